from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_import_legacy")]

    operations = [
        migrations.AddField(model_name="product", name="price", field=models.IntegerField(default=0)),
        migrations.AlterField(model_name="product", name="price", field=models.BigIntegerField(default=0)),
    ]

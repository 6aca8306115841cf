from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0009_default_customer")]

    operations = [
        migrations.AlterField(
            model_name="order",
            name="total",
            field=models.BigIntegerField(null=True),
        ),
    ]

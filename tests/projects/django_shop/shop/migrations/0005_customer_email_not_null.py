from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0004_backfill_email")]

    operations = [
        migrations.AlterField(
            model_name="customer",
            name="email",
            field=models.EmailField(max_length=254),
        ),
    ]

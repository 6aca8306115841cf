from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Product",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("sku", models.TextField(unique=True)),
                ("price_cents", models.BigIntegerField()),
            ],
            options={"db_table": "products"},
        ),
    ]

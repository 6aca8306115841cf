from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_unique_name_sku_and_back")]

    operations = [
        migrations.AddField(model_name="product", name="legacy_id", field=models.IntegerField(null=True)),
        # The legacy table only exists in production's database: this cannot run on a new one.
        migrations.RunSQL(
            "UPDATE catalog_product p SET legacy_id = l.id FROM legacy_products l WHERE l.sku = p.sku"
        ),
    ]

from django.db import migrations


def count_products(apps, schema_editor):
    # Reads through the replica alias, as some projects' data migrations do.
    product = apps.get_model("catalog", "Product")
    product.objects.using("replica").count()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_product_price")]

    operations = [migrations.RunPython(count_products, migrations.RunPython.noop)]

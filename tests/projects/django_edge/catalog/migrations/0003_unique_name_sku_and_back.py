from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_product_attributes")]

    operations = [
        migrations.AlterUniqueTogether(name="product", unique_together={("name", "sku")}),
        # Dropping it again needs the constraint the previous operation created to exist in the database.
        migrations.AlterUniqueTogether(name="product", unique_together=set()),
    ]

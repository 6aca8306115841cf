from django.db import migrations


def create_walk_in_customer(apps, schema_editor):
    # One row, no loop over the table: opaque, but not a full-table pass.
    Customer = apps.get_model("shop", "Customer")
    Customer.objects.get_or_create(name="walk-in", email="walk-in@example.invalid")


class Migration(migrations.Migration):
    dependencies = [("shop", "0008_zero_null_totals")]

    operations = [
        migrations.RunPython(create_walk_in_customer, migrations.RunPython.noop),
    ]

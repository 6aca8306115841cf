from django.db import migrations


def backfill_email(apps, schema_editor):
    # The classic runaway: every row loaded and saved one by one, all inside the migration's transaction.
    Customer = apps.get_model("shop", "Customer")
    for customer in Customer.objects.all():
        customer.email = f"{customer.pk}@example.invalid"
        customer.save()


class Migration(migrations.Migration):
    dependencies = [("shop", "0003_customer_email")]

    operations = [
        migrations.RunPython(backfill_email, migrations.RunPython.noop),
    ]

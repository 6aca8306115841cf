from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
    atomic = False

    dependencies = [("shop", "0005_customer_email_not_null")]

    operations = [
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(fields=["total"], name="shop_order_total_idx"),
        ),
    ]

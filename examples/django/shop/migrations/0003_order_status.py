"""The runaway migration: 200 ms on a laptop, hours on an 80-million-row production table.

AddField takes ACCESS EXCLUSIVE on orders, and the migration's transaction (atomic by default) keeps holding
it through the full-table UPDATE and the SET NOT NULL scan: every read and write of orders waits until COMMIT.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_products")]

    operations = [
        migrations.AddField(model_name="order", name="status", field=models.TextField(null=True)),
        migrations.RunSQL("UPDATE orders SET status = 'paid'", reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(model_name="order", name="status", field=models.TextField()),
    ]

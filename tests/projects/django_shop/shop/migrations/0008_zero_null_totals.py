from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("shop", "0007_order_status")]

    operations = [
        migrations.RunSQL(
            "UPDATE shop_order SET total = 0 WHERE total IS NULL;",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]

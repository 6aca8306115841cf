from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0010_order_total_bigint")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="note",
            field=models.TextField(default=""),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(total__gte=0), name="shop_order_total_gte_0"
            ),
        ),
    ]

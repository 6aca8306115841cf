from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0006_order_total_index_concurrently")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="status",
            field=models.CharField(default="new", max_length=20),
        ),
    ]

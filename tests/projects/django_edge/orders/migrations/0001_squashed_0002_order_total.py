from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [("orders", "0001_initial"), ("orders", "0002_order_total")]
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("total", models.IntegerField(null=True)),
            ],
        ),
        migrations.AddIndex(model_name="order", index=models.Index(fields=["total"], name="order_total_idx")),
    ]

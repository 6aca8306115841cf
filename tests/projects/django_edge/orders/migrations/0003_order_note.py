from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_order_total")]

    operations = [
        migrations.AddField(model_name="order", name="note", field=models.TextField(default="")),
        migrations.AddIndex(model_name="order", index=models.Index(fields=["note"], name="order_note_idx")),
    ]

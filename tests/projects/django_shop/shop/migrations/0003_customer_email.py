from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_order")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="email",
            field=models.EmailField(max_length=254, null=True),
        ),
    ]

from django.db import models


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField()


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    total = models.BigIntegerField(null=True)
    status = models.CharField(max_length=20, default="new")
    note = models.TextField(default="")

    class Meta:
        indexes = [models.Index(fields=["total"], name="shop_order_total_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(total__gte=0), name="shop_order_total_gte_0"),
        ]

from django.db import models


class Customer(models.Model):
    email = models.TextField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "customers"


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT)
    total_cents = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.TextField()

    class Meta:
        db_table = "orders"


class Product(models.Model):
    sku = models.TextField(unique=True)
    price_cents = models.BigIntegerField()

    class Meta:
        db_table = "products"

SECRET_KEY = "sample-project-not-secret"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django.contrib.postgres", "catalog", "orders"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# foreshock replaces DATABASES with its sandbox when it renders the migrations.
# A read replica too: data migrations may read through it.
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", "NAME": "edge"},
    "replica": {"ENGINE": "django.db.backends.postgresql", "NAME": "edge", "HOST": "replica.invalid"},
}

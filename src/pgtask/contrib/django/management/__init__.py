"""manage.py commands of pgtask.contrib.django."""

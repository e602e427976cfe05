"""Views only do HTTP: load, check access, bind the form, call a service, redirect or render."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def home(request):
    return render(request, "screening/home.html")

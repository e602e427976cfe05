"""Session idle timeout: sign out after N minutes without a request (absolute lifetime is the cookie age)."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse

_KEY = "last_activity"
_WRITE_EVERY = 30  # seconds


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(_KEY, now)
            if now - last > settings.SESSION_IDLE_TIMEOUT_MINUTES * 60:
                logout(request)
                messages.info(request, "You were signed out after a period of inactivity.")
                return redirect(f"{reverse('login')}?next={request.path}")
            if now - last >= _WRITE_EVERY or _KEY not in request.session:
                request.session[_KEY] = now  # written at most every 30 s: no session UPDATE per request
        return self.get_response(request)

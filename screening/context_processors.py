from .permissions import roles_of


def roles(request):
    """The signed-in user's roles, for the navigation."""
    user = getattr(request, "user", None)
    return {"roles": roles_of(user) if user is not None else frozenset()}

"""The second workflow on the engine: logging in by push notification, approved with the PIN."""

from workflow.login.definition import LOGIN_DEFINITION, LOGIN_WORKFLOW, LoginEvent, LoginState

__all__ = ["LOGIN_DEFINITION", "LOGIN_WORKFLOW", "LoginEvent", "LoginState"]

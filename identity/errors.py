"""The identity API's errors, each declared once: raised by identity.services, listed in
the schema by identity.apis (pollsite.problems.problem_responses)."""

from pollsite.problems import Problem


class InvalidNationalId(Problem):
    status_code = 400
    default_code = "invalid_national_id"
    default_detail = "This is not a valid national ID number."  # raised with the scheme's name


class InvalidCredentials(Problem):
    status_code = 401
    default_code = "invalid_credentials"
    default_detail = "Wrong username or password."


class NationalIdInUse(Problem):
    status_code = 409
    default_code = "national_id_in_use"
    default_detail = "This national ID is already bound to another account."


class AccountAlreadyVerified(Problem):
    status_code = 409
    default_code = "account_already_verified"
    default_detail = "This account is already verified with another national ID."


class VerificationFailed(Problem):
    """One body for every kind of mismatch (unknown number, wrong date of birth,
    deceased, under age): the endpoint must not become an oracle for the registry."""

    status_code = 422
    default_code = "verification_failed"
    default_detail = "The national ID and date of birth could not be verified."


class RegistryUnavailable(Problem):
    status_code = 503
    default_code = "registry_unavailable"
    default_detail = "The national registry is not answering; try again shortly."

    def __init__(self, *, retry_after):
        super().__init__(headers={"Retry-After": str(retry_after)})

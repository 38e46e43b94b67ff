"""Runs the official azure-communication-identity SDK for Python (1.3.2, from
Debian's python3-azure) against the acsidentity emulator.

interop/run.sh starts the emulator with -tls -allow-bearer and sets
ACS_CONNECTION_STRING and REQUESTS_CA_BUNDLE (the emulator's self-signed
certificate): the SDK only speaks https. Run it with /usr/bin/python3 -m
unittest -v test_identity.
"""

import base64
import datetime
import json
import os
import re
import ssl
import time
import unittest
import urllib.request

import requests
from azure.communication.identity import (
    CommunicationIdentityClient,
    CommunicationTokenScope,
    CommunicationUserIdentifier,
)
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.pipeline.transport import RequestsTransport

CONNECTION_STRING = os.environ["ACS_CONNECTION_STRING"]
ENDPOINT = re.search(r"endpoint=([^;]+)", CONNECTION_STRING, re.I).group(1).rstrip("/")
ALL_SCOPES = ["chat", "voip", "chat.join", "chat.join.limited", "voip.join"]
# The service's date-time form: .NET's round-trip form, trailing zeros of
# the fraction trimmed.
SERVICE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?\+00:00$")
ACS_USER = re.compile(r"^8:acs:[0-9a-f-]{36}_[0-9a-f-]{36}$")
OTHER_RESOURCE_USER = "8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-5a3a0d000081"


def parse_time(s):
    """Parses the service's date-time (up to 7 fractional digits) to UTC."""
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?\+00:00$", s)
    assert m, s
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    frac = (m.group(2) or "0").ljust(7, "0")
    return t + datetime.timedelta(microseconds=int(frac) / 10)


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def introspect(token):
    ctx = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE"))
    req = urllib.request.Request(
        ENDPOINT + "/.emulator/introspect",
        data=json.dumps({"token": token}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, context=ctx) as res:
        return json.load(res)["status"]


def fake_jwt(claims_):
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    return enc(b'{"alg":"RS256","typ":"JWT"}') + "." + enc(json.dumps(claims_).encode()) + ".c2lnbmF0dXJl"


class EntraCredential:
    """An Entra ID credential whose tokens the emulator (-allow-bearer)
    accepts: it checks aud and exp, not the signature."""

    def get_token(self, *scopes, **kwargs):
        exp = int(time.time()) + 3600
        return AccessToken(fake_jwt({
            "aud": "https://communication.azure.com", "exp": exp,
            "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid": "5d2c6e1f-8a7b-4c3d-9e0f-1a2b3c4d5e6f",
        }), exp)


class IdentityTest(unittest.TestCase):
    def setUp(self):
        self.client = self.closing(CommunicationIdentityClient.from_connection_string, CONNECTION_STRING)

    def closing(self, make, *args, **kwargs):
        """Makes a client with make(*args, **kwargs) whose HTTPS connections
        are closed when the test ends. The sync client of SDK 1.3.2 has no
        close() (its aio client has), so the test owns the requests session
        under it; otherwise every test leaves an unclosed ssl.SSLSocket."""
        session = requests.Session()
        self.addCleanup(session.close)
        return make(*args, transport=RequestsTransport(session=session, session_owner=False), **kwargs)

    def assertServiceError(self, err, status, code, target=None, message=None):
        self.assertEqual(err.status_code, status)
        self.assertEqual(err.error.code, code)
        self.assertEqual(err.error.target, target)
        if message is not None:
            self.assertEqual(err.error.message, message)

    def assertToken(self, user, token, lifetime, scopes, before):
        self.assertRegex(token.expires_on, SERVICE_TIME)
        expires_on = parse_time(token.expires_on)
        self.assertLessEqual(abs(expires_on - before - lifetime), datetime.timedelta(seconds=30))
        c = claims(token.token)
        self.assertEqual(c["exp"], int(expires_on.timestamp()), "JWT exp is expiresOn's second")
        self.assertEqual(c["skypeid"], user.properties["id"][2:])
        self.assertEqual(c["acsScope"].split(","), scopes)
        self.assertEqual(str(c["csi"]), str(c["iat"]))
        self.assertEqual(introspect(token.token), "valid")

    def test_create_user(self):
        user = self.client.create_user()
        self.assertRegex(user.properties["id"], ACS_USER)
        self.assertEqual(user.raw_id, user.properties["id"])

    def test_create_user_and_token_with_token_expires_in(self):
        for lifetime in (datetime.timedelta(hours=1), datetime.timedelta(hours=24)):
            with self.subTest(lifetime=lifetime):
                before = datetime.datetime.now(datetime.timezone.utc)
                user, token = self.client.create_user_and_token(
                    [CommunicationTokenScope.CHAT, CommunicationTokenScope.VOIP], token_expires_in=lifetime)
                self.assertRegex(user.properties["id"], ACS_USER)
                self.assertToken(user, token, lifetime, ["chat", "voip"], before)

    def test_get_token_with_every_scope(self):
        # The .join scopes need api-version 2023-10-01; the SDK's default is
        # 2022-10-01, which refuses them as the service does.
        client = self.closing(CommunicationIdentityClient.from_connection_string, CONNECTION_STRING, api_version="2023-10-01")
        user = client.create_user()
        for scope in ALL_SCOPES:
            with self.subTest(scope=scope):
                before = datetime.datetime.now(datetime.timezone.utc)
                self.assertToken(user, client.get_token(user, [scope]), datetime.timedelta(hours=24), [scope], before)
        before = datetime.datetime.now(datetime.timezone.utc)
        token = client.get_token(user, ALL_SCOPES, token_expires_in=datetime.timedelta(minutes=60))
        self.assertToken(user, token, datetime.timedelta(minutes=60), ALL_SCOPES, before)
        with self.assertRaises(HttpResponseError) as cm:
            self.client.get_token(user, ["chat.join"])
        self.assertServiceError(cm.exception, 400, "ValidationError", "Scopes")

    def test_revoke_tokens(self):
        user = self.client.create_user()
        old = self.client.get_token(user, ["chat"])
        self.assertEqual(introspect(old.token), "valid")
        self.client.revoke_tokens(user)
        self.assertEqual(introspect(old.token), "revoked")
        self.assertEqual(introspect(self.client.get_token(user, ["voip"]).token), "valid")

    def test_delete_user(self):
        user = self.client.create_user()
        token = self.client.get_token(user, ["chat"])
        self.client.delete_user(user)
        self.assertEqual(introspect(token.token), "deleted")
        for call in (lambda: self.client.get_token(user, ["chat"]),
                     lambda: self.client.revoke_tokens(user),
                     lambda: self.client.delete_user(user)):
            with self.assertRaises(ResourceNotFoundError) as cm:
                call()
            self.assertServiceError(cm.exception, 404, "IdentityNotFound")

    def test_bad_lifetime(self):
        user = self.client.create_user()
        for minutes in (59, 1441):
            message = "ExpiresInMinutes value %d is invalid. Value must be within the [60, 1440] interval." % minutes
            with self.subTest(minutes=minutes):
                with self.assertRaises(HttpResponseError) as cm:
                    self.client.create_user_and_token(["chat"], token_expires_in=datetime.timedelta(minutes=minutes))
                self.assertServiceError(cm.exception, 400, "ValidationError", "ExpiresInMinutes", message)
                with self.assertRaises(HttpResponseError) as cm:
                    self.client.get_token(user, ["chat"], token_expires_in=datetime.timedelta(minutes=minutes))
                self.assertServiceError(cm.exception, 400, "ValidationError", "ExpiresInMinutes", message)

    def test_bad_scopes(self):
        user = self.client.create_user()
        with self.assertRaises(HttpResponseError) as cm:
            self.client.get_token(user, ["admin"])
        self.assertServiceError(cm.exception, 400, "ValidationError", "Scopes")
        with self.assertRaises(HttpResponseError) as cm:
            self.client.get_token(user, [])
        self.assertServiceError(cm.exception, 400, "ValidationError", "Scopes", "Scopes: The Scopes field is required.")
        # create_user_and_token without scopes: the service answers 201 with
        # an identity and no accessToken (recorded), which SDK 1.3.2 cannot
        # read; the emulator answers the same, so the SDK fails the same way.
        with self.assertRaises(KeyError):
            self.client.create_user_and_token([])

    def test_identity_of_another_resource(self):
        user = CommunicationUserIdentifier(OTHER_RESOURCE_USER)
        entra = self.closing(CommunicationIdentityClient, ENDPOINT, EntraCredential())
        for client in (self.client, entra):
            for call in (lambda: client.get_token(user, ["chat"]),
                         lambda: client.revoke_tokens(user),
                         lambda: client.delete_user(user)):
                with self.assertRaises(ClientAuthenticationError) as cm:
                    call()
                self.assertServiceError(cm.exception, 401, "IdentityNotOwned", None,
                                        "Provided identity doesn't belong to the resource.")

    def test_entra_id(self):
        client = self.closing(CommunicationIdentityClient, ENDPOINT, EntraCredential())
        before = datetime.datetime.now(datetime.timezone.utc)
        user, token = client.create_user_and_token(["voip"])
        self.assertToken(user, token, datetime.timedelta(hours=24), ["voip"], before)

    def test_wrong_key(self):
        wrong = base64.b64encode(bytes([7] * 64)).decode()
        bad = self.closing(CommunicationIdentityClient.from_connection_string,
                           re.sub(r"accesskey=[^;]*", "accesskey=" + wrong, CONNECTION_STRING, flags=re.I))
        with self.assertRaises(ClientAuthenticationError) as cm:
            bad.create_user()
        self.assertEqual(cm.exception.status_code, 401)

    def test_teams_user(self):
        app, oid = "6b2a9c1e-3f4d-4e5a-8b7c-9d0e1f2a3b4c", "0b6f3a8e-5a43-4c1e-9d7e-2f64c1a0b9d3"
        exp = int(time.time()) + 3600
        teams = fake_jwt({"aud": "https://auth.msft.communication.azure.com", "appid": app, "oid": oid,
                          "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "exp": exp})
        token = self.client.get_token_for_teams_user(teams, app, oid)
        self.assertEqual(parse_time(token.expires_on), datetime.datetime.fromtimestamp(exp, datetime.timezone.utc))
        self.assertEqual(claims(token.token)["skypeid"], "orgid:" + oid)
        cases = [
            (("invalid", app, oid), 401, "InvalidAccessToken", None, "Provided access token is not valid."),
            ((teams, "invalid", oid), 400, "ValidationError", "appId", "Provided AppId has invalid format."),
            ((teams, "81e78ca8-ade5-4998-9c05-1e17f850fcfe", oid), 400, "ValidationError", "appId",
             "AAD application is not the expected one."),
            ((teams, app, "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"), 400, "ValidationError", "userId",
             "Provided AAD token issued for unexpected user."),
        ]
        for args, status, code, target, message in cases:
            with self.subTest(args=args[1:]):
                with self.assertRaises(HttpResponseError) as cm:
                    self.client.get_token_for_teams_user(*args)
                self.assertServiceError(cm.exception, status, code, target, message)


if __name__ == "__main__":
    unittest.main()

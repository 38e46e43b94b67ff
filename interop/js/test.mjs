// Runs the official @azure/communication-identity SDK against the
// acsidentity emulator. The connection string comes from
// ACS_CONNECTION_STRING (interop/run.sh starts the emulator and sets it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { CommunicationIdentityClient } from "@azure/communication-identity";

const connectionString = process.env.ACS_CONNECTION_STRING;
if (!connectionString) {
  throw new Error("set ACS_CONNECTION_STRING to the emulator's connection string");
}
// The SDK refuses plain http unless told otherwise; over https (TLS=1 in
// run.sh) the emulator's self-signed certificate is trusted through
// NODE_EXTRA_CA_CERTS.
const insecure = /endpoint=http:/i.test(connectionString);
const clientOptions = insecure ? { allowInsecureConnection: true } : {};
const client = new CommunicationIdentityClient(connectionString, clientOptions);
const allScopes = ["chat", "voip", "chat.join", "chat.join.limited", "voip.join"];

function decodeJwt(token) {
  const [, payload] = token.split(".");
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
}

async function introspect(token) {
  const endpoint = /endpoint=([^;]+)/i.exec(connectionString)[1].replace(/\/$/, "");
  const res = await fetch(endpoint + "/.emulator/introspect", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).status;
}

test("createUser returns an ACS user", async () => {
  const user = await client.createUser();
  assert.match(user.communicationUserId, /^8:acs:[0-9a-f-]{36}_[0-9a-f-]{36}$/);
});

test("createUserAndToken honours tokenExpiresInMinutes", async () => {
  const before = Date.now();
  const { user, token, expiresOn } = await client.createUserAndToken(["chat"], { tokenExpiresInMinutes: 60 });
  assert.match(user.communicationUserId, /^8:acs:/);
  assert.ok(expiresOn instanceof Date);
  const want = before + 60 * 60 * 1000;
  assert.ok(Math.abs(expiresOn.getTime() - want) < 60 * 1000, `expiresOn ${expiresOn.toISOString()} is not about now+60min`);
  const claims = decodeJwt(token);
  // expiresOn keeps the service's sub-second part; exp is its second.
  assert.equal(claims.exp, Math.floor(expiresOn.getTime() / 1000), "JWT exp is expiresOn's second");
  assert.equal(claims.skypeid, user.communicationUserId.slice(2));
  assert.equal(claims.acsScope, "chat");
});

test("getToken with all five scopes, then revokeTokens", async () => {
  const user = await client.createUser();
  const { token, expiresOn } = await client.getToken(user, allScopes);
  assert.ok(expiresOn.getTime() > Date.now() + 23 * 3600 * 1000, "default lifetime is 24h");
  assert.deepEqual(decodeJwt(token).acsScope.split(","), allScopes);
  assert.equal(await introspect(token), "valid");
  await client.revokeTokens(user);
  assert.equal(await introspect(token), "revoked");
  const fresh = await client.getToken(user, ["voip"]);
  assert.equal(await introspect(fresh.token), "valid");
});

test("deleteUser, then getToken is a 404", async () => {
  const user = await client.createUser();
  const { token } = await client.getToken(user, ["chat"]);
  await client.deleteUser(user);
  assert.equal(await introspect(token), "deleted");
  await assert.rejects(client.getToken(user, ["chat"]), (err) => {
    assert.equal(err.name, "RestError");
    assert.equal(err.statusCode, 404);
    return true;
  });
});

test("tokenExpiresInMinutes 1441 is a 400 ValidationError", async () => {
  await assert.rejects(client.createUserAndToken(["chat"], { tokenExpiresInMinutes: 1441 }), (err) => {
    assert.equal(err.name, "RestError");
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, "ValidationError");
    assert.match(err.message, /ExpiresInMinutes value 1441 is invalid/);
    return true;
  });
});

test("a wrong access key is refused with 401", async () => {
  const wrongKey = Buffer.alloc(64, 7).toString("base64");
  const bad = new CommunicationIdentityClient(connectionString.replace(/accesskey=[^;]*/i, "accesskey=" + wrongKey), clientOptions);
  await assert.rejects(bad.createUser(), (err) => {
    assert.equal(err.name, "RestError");
    assert.equal(err.statusCode, 401);
    return true;
  });
});

test("an identity of another resource is a 401 IdentityNotOwned", async () => {
  const other = { communicationUserId: "8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-5a3a0d000081" };
  for (const call of [() => client.getToken(other, ["chat"]), () => client.revokeTokens(other), () => client.deleteUser(other)]) {
    await assert.rejects(call(), (err) => {
      assert.equal(err.name, "RestError");
      assert.equal(err.statusCode, 401);
      assert.equal(err.code, "IdentityNotOwned");
      return true;
    });
  }
});

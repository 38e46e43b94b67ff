// Checks with the official SDK that an emulator keeps its state across a
// restart on the same data file (images/test.sh runs it around a restart
// of the emulator's container on the same volume):
//
//   node persist.mjs create             makes an identity and a token, prints {"user","token"}
//   node persist.mjs check USER TOKEN   the identity still gets tokens, the old token is still valid
//
// The connection string comes from ACS_CONNECTION_STRING; over https the
// emulator's certificate is trusted through NODE_EXTRA_CA_CERTS.
import { CommunicationIdentityClient } from "@azure/communication-identity";

const connectionString = process.env.ACS_CONNECTION_STRING;
if (!connectionString) {
  throw new Error("set ACS_CONNECTION_STRING to the emulator's connection string");
}
const endpoint = /endpoint=([^;]+)/i.exec(connectionString)[1].replace(/\/$/, "");
const clientOptions = /endpoint=http:/i.test(connectionString) ? { allowInsecureConnection: true } : {};
const client = new CommunicationIdentityClient(connectionString, clientOptions);

async function introspect(token) {
  const res = await fetch(endpoint + "/.emulator/introspect", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  if (res.status !== 200) throw new Error(`introspect: ${res.status}`);
  return (await res.json()).status;
}

const [mode, userId, token] = process.argv.slice(2);
if (mode === "create") {
  const made = await client.createUserAndToken(["chat"]);
  console.log(JSON.stringify({ user: made.user.communicationUserId, token: made.token }));
} else if (mode === "check" && userId && token) {
  const status = await introspect(token);
  if (status !== "valid") throw new Error(`the token issued before the restart is ${status}, not valid`);
  const fresh = await client.getToken({ communicationUserId: userId }, ["voip"]);
  if ((await introspect(fresh.token)) !== "valid") throw new Error("a token issued after the restart is not valid");
  console.log(`${userId} survived the restart; its earlier token is still valid`);
} else {
  console.error("usage: node persist.mjs create | check USER TOKEN");
  process.exit(2);
}

// A front end's flow through the API, typed by openapi-typescript from the live schema
// (schema.d.ts, generated next to this file by tests/clients/test_generated_clients.py)
// and sent with openapi-fetch. `tsc --strict` must accept it with no cast; then node runs
// it against the server: node flow.ts BASE_URL STAFF PASSWORD NATIONAL_ID DATE_OF_BIRTH
// (PASSWORD is the staff's, and the one the flow gives the account it signs up).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.d.ts";

type Results = components["schemas"]["Results"];
type Problem = components["schemas"]["Problem"];

declare const process: { argv: string[]; exitCode?: number };
const [baseUrl, staffUsername, PASSWORD, nationalId, dateOfBirth] = process.argv.slice(2);

function check(condition: boolean, what: string, detail?: unknown): asserts condition {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

function problem(error: Problem | undefined, status: number, code: string): void {
  check(error !== undefined && error.status === status && error.code === code, code, error);
}

const anonymous = createClient<paths>({ baseUrl });

async function login(username: string) {
  const { data, error } = await anonymous.POST("/api/v1/auth/login", {
    body: { username, password: PASSWORD },
  });
  check(data !== undefined, "login", error);
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${data.token}` } });
}

async function main(): Promise<void> {
  // Accounts: an optional field left out (email), then log in.
  const signedUp = await anonymous.POST("/api/v1/auth/register", {
    body: { username: "bob", password: PASSWORD },
  });
  check(signedUp.response.status === 201, "register", signedUp.error);
  const bob = await login("bob");
  const staff = await login(staffUsername);

  // Staff: a poll with only the required fields; description, publish and
  // results_visibility have defaults and may be left out.
  const created = await staff.POST("/api/v1/polls", {
    body: {
      title: "Board election",
      closes_at: new Date(Date.now() + 3_600_000).toISOString(),
      options: [{ label: "Ada" }, { label: "Grace" }],
    },
  });
  check(created.data !== undefined, "create", created.error);
  const poll = created.data;
  const pollId: number = poll.id;
  const draft = await staff.POST("/api/v1/polls", {
    body: {
      title: "Draft",
      closes_at: new Date(Date.now() + 86_400_000).toISOString(),
      options: [{ label: "Yes" }, { label: "No" }],
      publish: false,
    },
  });
  check(draft.data?.status === "draft", "draft", draft.error);

  // Anyone: the page's next and previous are always there (null at the ends).
  const list = await anonymous.GET("/api/v1/polls", { params: { query: { status: "open" } } });
  check(list.data !== undefined, "list", list.error);
  const next: string | null = list.data.next;
  check(next === null && list.data.results[0]?.id === pollId, "page", list.data);
  const missing = await anonymous.GET("/api/v1/polls/{poll_id}", {
    params: { path: { poll_id: 10 ** 17 } },
  });
  problem(missing.error, 404, "not_found");

  // A voter verifies and votes; the second vote is refused with a typed problem.
  const verified = await bob.POST("/api/v1/identity/verify", {
    body: { national_id: nationalId, date_of_birth: dateOfBirth },
  });
  check(verified.data?.status === "verified", "verify", verified.error);
  const ballot = { option_id: poll.options[0].id };
  const path = { poll_id: pollId };
  const vote = await bob.POST("/api/v1/polls/{poll_id}/votes", {
    params: { path, header: { "Idempotency-Key": "ts-flow-1" } },
    body: ballot,
  });
  check(vote.data !== undefined, "vote", vote.error);
  const receipt: string = vote.data.receipt;
  const twice = await bob.POST("/api/v1/polls/{poll_id}/votes", { params: { path }, body: ballot });
  problem(twice.error, 409, "already_voted");

  // Results: the document, then 304 for the ETag it came with.
  const read = await anonymous.GET("/api/v1/polls/{poll_id}/results", { params: { path } });
  check(read.data?.total_votes === 1, "results", read.error);
  const etag = read.response.headers.get("ETag") ?? "";
  const unchanged = await anonymous.GET("/api/v1/polls/{poll_id}/results", {
    params: { path, header: { "If-None-Match": etag } },
  });
  check(unchanged.response.status === 304, "not modified", unchanged.response.status);

  // The stream: its first event's data is a Results document.
  const stream = await anonymous.GET("/api/v1/polls/{poll_id}/results/stream", {
    params: { path },
    parseAs: "stream",
  });
  check(stream.data != null, "stream", stream.error);
  const reader = stream.data.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n\n")) {
    const chunk = await reader.read();
    check(!chunk.done, "stream ended");
    text += chunk.value;
  }
  await reader.cancel();
  const [eventLine, dataLine] = text.split("\n");
  check(eventLine === "event: results", "event name", eventLine);
  const first: Results = JSON.parse(dataLine.replace(/^data: /, ""));
  check(first.poll_id === pollId && first.total_votes === 1, "stream data", first);

  // A ranked poll: a ranking, most preferred first; its results carry the runoff.
  const ranked = await staff.POST("/api/v1/polls", {
    body: {
      title: "Chair",
      closes_at: new Date(Date.now() + 3_600_000).toISOString(),
      options: [{ label: "Ada" }, { label: "Grace" }],
      ballot_kind: "ranked",
    },
  });
  check(ranked.data?.ballot_kind === "ranked", "ranked poll", ranked.error);
  const rankedPath = { poll_id: ranked.data.id };
  const [ada, grace] = ranked.data.options.map((o) => o.id);
  const ranking = await bob.POST("/api/v1/polls/{poll_id}/votes", {
    params: { path: rankedPath },
    body: { ranking: [grace, ada] },
  });
  check(ranking.data !== undefined, "ranked vote", ranking.error);
  const runoff = await anonymous.GET("/api/v1/polls/{poll_id}/results", {
    params: { path: rankedPath },
  });
  const winner: number | null | undefined = runoff.data?.winner;
  check(winner === grace && runoff.data?.rounds?.length === 1, "runoff", runoff.data);

  // Audit after close; a dead token is refused even on a public read.
  const closed = await staff.POST("/api/v1/polls/{poll_id}/close", { params: { path } });
  check(closed.data?.status === "closed", "close", closed.error);
  const ledger = await anonymous.GET("/api/v1/polls/{poll_id}/receipts", { params: { path } });
  check(ledger.data?.results[0]?.receipt === receipt, "ledger", ledger.error);
  const checked = await anonymous.GET("/api/v1/receipts/{receipt}", {
    params: { path: { receipt } },
  });
  check(checked.data?.counted === true, "receipt", checked.error);
  const out = await bob.POST("/api/v1/auth/logout");
  check(out.response.status === 204, "logout", out.error);
  const dead = await bob.GET("/api/v1/polls/{poll_id}/results", { params: { path } });
  problem(dead.error, 401, "authentication_failed");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

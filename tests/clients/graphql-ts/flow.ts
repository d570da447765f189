// A front-end's poll page over GraphQL, typed by graphql-codegen from schema.graphql
// (generated.ts) and checked with tsc --strict, then run by node against the server:
// log in over REST, read the poll page in one query, subscribe to its results over
// graphql-sse, vote, and see the vote's version arrive.
//
// Usage: node flow.ts BASE_URL USERNAME PASSWORD POLL_ID

import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { createClient } from "graphql-sse";

import { CastVoteDocument, LiveResultsDocument, PollPageDocument } from "./generated.ts";
import type { ResultsPartsFragment } from "./generated.ts";

const [base, username, password, pollId] = process.argv.slice(2);

interface GraphQLError {
  message: string;
  extensions?: { code?: string; status?: number; retryAfter?: number };
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function login(): Promise<string> {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  check(response.ok, `login: ${response.status}`);
  const body = (await response.json()) as { token: string };
  return body.token;
}

async function execute<Result, Variables>(
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
  token: string,
): Promise<Result> {
  const response = await fetch(`${base}/api/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: Result | null; errors?: GraphQLError[] };
  const codes = (body.errors ?? []).map((e) => e.extensions?.code);
  check(body.data != null && codes.length === 0, `${response.status} ${codes.join(", ")}`);
  return body.data;
}

async function main(): Promise<void> {
  const token = await login();
  const page = await execute(PollPageDocument, { pageSize: 20 }, token);
  const poll = page.polls.items.find((p) => p.id === pollId);
  check(poll !== undefined, `poll ${pollId} is not on the page`);
  check(poll.myVote === null, "no vote yet");
  check(poll.ballotKind === "SINGLE", "a single-choice poll");
  const before: ResultsPartsFragment | null = poll.results ?? null;
  check(before !== null, "its results are public");

  const events: ResultsPartsFragment[] = [];
  let wake: () => void = () => {};
  const stream = createClient({
    url: `${base}/api/graphql/stream`,
    headers: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const unsubscribe = stream.subscribe(
    { query: print(LiveResultsDocument), variables: { pollId } },
    {
      next: (result) => {
        const data = result.data as { results: ResultsPartsFragment } | null | undefined;
        if (data) events.push(data.results);
        wake();
      },
      error: (error) => {
        console.error("subscription failed:", error);
        process.exit(1);
      },
      complete: () => {},
    },
  );
  const next = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no event ${count} in 15 s`)), 15_000);
      const done = () => {
        if (events.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      };
      wake = done;
      done();
    });
  await next(1);
  check(events[0].version === before.version, "the first event is the results now");

  const option = poll.options[0];
  const voted = await execute(CastVoteDocument, { pollId, optionId: option.id, key: "ts-1" }, token);
  check(voted.castVote !== null && voted.castVote.pollId === pollId, "a receipt");
  await next(2);
  check(events[1].totalVotes === before.totalVotes + 1, "the next event counts the vote");
  const counted = events[1].options.find((o) => o.id === option.id);
  check(counted !== undefined && counted.votes >= 1, "for the option chosen");
  unsubscribe();
  stream.dispose();

  const after = await execute(PollPageDocument, { pageSize: 20 }, token);
  const mine = after.polls.items.find((p) => p.id === pollId)?.myVote;
  check(mine?.receipt === voted.castVote.receipt, "the page shows my vote");
  console.log(`ok: ${events.length} events, receipt ${voted.castVote.receipt}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

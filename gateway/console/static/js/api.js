// The GraphQL client: one POST /graphql per operation, the key in the Authorization header.
// Live updates (graphql-transport-ws, live.js) use the same endpoint and key.

import { currentKey } from "./key.js";

// Relative to the page (/console), so a path prefix in front of the gateway still works.
export const ENDPOINT = new URL("graphql", document.baseURI).href;

/** A failure with the API's code (extensions.code), or a transport code of the console's. */
export class ApiError extends Error {
  constructor(message, code, { requestId = null, path = null } = {}) {
    super(message);
    this.code = code;
    this.requestId = requestId;
    this.path = path;
  }
}

/** Runs one operation; resolves to `data`, rejects with the first error as an ApiError. */
export async function query(document, variables = {}) {
  const key = currentKey();
  if (!key) throw new ApiError("No API key is set.", "UNAUTHENTICATED");
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${key}`,
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
      },
      body: JSON.stringify({ query: document, variables }),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(`The gateway did not answer (${error.message}).`, "NETWORK_ERROR");
  }
  const requestId = response.headers.get("x-request-id");
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(
      `The gateway answered HTTP ${response.status} without a GraphQL result.`,
      `HTTP_${response.status}`,
      { requestId },
    );
  }
  const first = body.errors && body.errors[0];
  if (first) {
    const code = (first.extensions && first.extensions.code) || `HTTP_${response.status}`;
    throw new ApiError(first.message, code, {
      requestId: (first.extensions && first.extensions.requestId) || requestId,
      path: first.path ? first.path.join(".") : null,
    });
  }
  return body.data;
}

/**
 * The key's role. The API has no field for it: an admin-only mutation with an empty list is
 * refused before it does anything — BAD_USER_INPUT for an admin key, FORBIDDEN for a viewer.
 */
export async function probeRole() {
  try {
    await query("mutation ConsoleRole { disableIntegrations(integrationIds: []) { integrationId } }");
  } catch (error) {
    if (error.code === "BAD_USER_INPUT") return "ADMIN";
    if (error.code === "FORBIDDEN") return "VIEWER";
    throw error;
  }
  return "ADMIN";
}

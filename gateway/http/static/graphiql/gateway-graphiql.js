// Starts GraphiQL on the gateway's page. A file rather than an inline script, so the page's
// Content-Security-Policy can forbid inline scripts. The query and variables are kept in the
// address (?q=, ?variables=) so a link shares them; headers, which hold the API key, are kept
// only in this browser's localStorage (GraphiQL's shouldPersistHeaders), never in the address.
// Queries and mutations go over HTTP; subscriptions over a graphql-transport-ws WebSocket on the
// same address (graphql-ws's client), one socket per subscription, opened with the key of the
// headers editor at that moment in its connection_init payload.
(function () {
  "use strict";

  var WELCOME =
    "# Integration View Gateway\n" +
    "#\n" +
    "# Put your API key in the Headers tab below:\n" +
    '#   {"Authorization": "Bearer gw_…"}\n' +
    "#\n" +
    "# Run: Ctrl-Enter (or the play button). Complete: Ctrl-Space.\n" +
    "# Subscriptions stream into the response pane until stopped.\n" +
    "{\n" +
    "  viewer {\n" +
    "    accountId\n" +
    "    name\n" +
    "  }\n" +
    "}\n";

  var endpoint = window.location.origin + window.location.pathname;
  var parameters = new URLSearchParams(window.location.search);

  function remember(name, value) {
    if (value) {
      parameters.set(name, value);
    } else {
      parameters.delete(name);
    }
    var search = parameters.toString();
    window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  var httpFetcher = GraphiQL.createFetcher({ url: endpoint });
  var socketUrl = endpoint.replace(/^http/, "ws");

  // What the gateway's close codes mean (gateway/http/websocket.py), for the response pane.
  var CLOSED_BECAUSE = {
    1000: "the gateway ended the connection",
    1001: "the gateway is shutting down; run the subscription again shortly",
    1006: "the connection failed or dropped: is the gateway running and reachable?",
    1009: "a message was larger than the gateway accepts (GATEWAY_MAX_BODY_BYTES)",
    1011: "the gateway had an internal error",
    1013: "the gateway is busy; run the subscription again shortly",
    4400: "the gateway refused a malformed message",
    4401: "the subscription was sent before the connection was acknowledged",
    4403:
      "the API key is missing, unknown or revoked: put a valid key in the Headers tab," +
      ' as {"Authorization": "Bearer gw_…"}',
    4408: "the connection was not initialised in time",
    4409: "an operation with this id is already running",
    4429: "the connection was initialised twice",
  };

  // From the query sent (GraphiQL's documentAST may still be the editor's previous text).
  function isSubscription(params) {
    var graphql = GraphiQL.GraphQL;
    try {
      var operation = graphql.getOperationAST(graphql.parse(params.query), params.operationName);
      return Boolean(operation) && operation.operation === "subscription";
    } catch (error) {
      return false; // a syntax error: the HTTP endpoint reports it
    }
  }

  // graphql-ws reports a close as its CloseEvent, an operation's errors as an array of GraphQL
  // errors, and a socket that failed before it opened as an Event.
  function reported(error) {
    if (Array.isArray(error)) {
      return error;
    }
    if (error && typeof error.code === "number") {
      var because = CLOSED_BECAUSE[error.code] || "the connection closed";
      var reason = error.reason ? " " + error.reason : "";
      return {
        message: "The WebSocket closed (" + error.code + reason + "): " + because + ".",
        closeCode: error.code,
      };
    }
    if (error instanceof Error) {
      return { message: error.message };
    }
    return { message: "The WebSocket to " + socketUrl + " failed: is the gateway reachable?" };
  }

  // An Observable, which GraphiQL subscribes to (and unsubscribes from with its stop button).
  // No retries: a closed socket shows why at once, and running again opens a new one.
  function subscription(params, headers) {
    return {
      subscribe: function (observer) {
        var client = graphqlWs.createClient({
          url: socketUrl,
          connectionParams: headers || {},
          lazy: true,
          retryAttempts: 0,
        });
        var stop = client.subscribe(params, {
          next: function (result) {
            observer.next(result);
          },
          error: function (error) {
            client.dispose();
            observer.error(reported(error));
          },
          complete: function () {
            client.dispose();
            observer.complete();
          },
        });
        // Stopping sends the operation's complete, then the socket closes with 1000.
        return {
          unsubscribe: function () {
            stop();
            client.dispose();
          },
        };
      },
    };
  }

  function fetcher(params, options) {
    if (isSubscription(params)) {
      return subscription(params, options && options.headers);
    }
    return httpFetcher(params, options);
  }

  var explorer = GraphiQLPluginExplorer.explorerPlugin();

  // GraphiQL asks for the schema once, as it opens: without a key yet that is refused. So
  // while there is no schema, ask again shortly after the headers change.
  var schema = null;
  var retry = null;

  function SchemaWatch() {
    schema = GraphiQL.React.useSchemaContext({ nonNull: true });
    return null;
  }

  function onEditHeaders() {
    window.clearTimeout(retry);
    retry = window.setTimeout(function () {
      if (schema && !schema.schema && !schema.isFetching) {
        schema.introspect();
      }
    }, 500);
  }

  function GatewayGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: WELCOME,
      query: parameters.get("q") || undefined,
      variables: parameters.get("variables") || undefined,
      onEditQuery: function (query) {
        remember("q", query);
      },
      onEditVariables: function (variables) {
        remember("variables", variables);
      },
      onEditHeaders: onEditHeaders,
      toolbar: { additionalComponent: SchemaWatch },
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GatewayGraphiQL)
  );
})();

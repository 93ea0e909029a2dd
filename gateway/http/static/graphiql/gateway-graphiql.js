// Starts GraphiQL on the gateway's page. A file rather than an inline script, so the page's
// Content-Security-Policy can forbid inline scripts. The query and variables are kept in the
// address (?q=, ?variables=) so a link shares them; headers, which hold the API key, are kept
// only in this browser's localStorage (GraphiQL's shouldPersistHeaders), never in the address.
(function () {
  "use strict";

  var WELCOME =
    "# Integration View Gateway\n" +
    "#\n" +
    "# Put your API key in the Headers tab below:\n" +
    '#   {"Authorization": "Bearer gw_…"}\n' +
    "#\n" +
    "# Run: Ctrl-Enter (or the play button). Complete: Ctrl-Space.\n" +
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

  var fetcher = GraphiQL.createFetcher({ url: endpoint });
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

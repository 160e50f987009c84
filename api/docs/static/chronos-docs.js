// Starts Swagger UI on the page at /docs. A file of its own, not an inline script, so
// that the page's Content-Security-Policy can forbid inline scripts.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // The default would send our document to validator.swagger.io: nothing leaves
    // this origin.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // A token typed into "Authorize" stays in this tab only.
    persistAuthorization: false,
  });
})();

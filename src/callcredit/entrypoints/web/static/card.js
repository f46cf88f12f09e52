// Progressive enhancement of the card form. Without JavaScript the form posts
// to the payment gateway's endpoint and the browser follows its redirect.
// With it, the same post asks for JSON so a refused card is explained next
// to the form, without reloading the page and without retyping the address.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var error = document.getElementById("card-error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var button = form.querySelector("button.primary");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      body: new URLSearchParams(new FormData(form))
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (result.ok && result.body.next) {
        window.location.assign(result.body.next);
        return;
      }
      button.disabled = false;
      error.textContent = (result.body.error && result.body.error.message) || form.dataset.networkError;
      error.hidden = false;
    }).catch(function () {
      button.disabled = false;
      error.textContent = form.dataset.networkError;
      error.hidden = false;
    });
  });
})();

// Progressive enhancement of the card form: the card number goes to the
// gateway's tokenizer, and only the token is posted to the office manager.
// Without JavaScript the form posts to the tokenizer directly.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || !window.fetch) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var error = document.getElementById("card-error");
    var csrf = form.elements.csrf.value;
    error.hidden = true;
    fetch(form.dataset.tokenizer, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({
        number: form.elements.number.value,
        exp: form.elements.exp.value,
        cvc: form.elements.cvc.value,
        holder: form.elements.holder.value
      })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (!result.ok || !result.body.token) {
        error.textContent = (result.body.error && result.body.error.message) || form.dataset.networkError;
        error.hidden = false;
        return;
      }
      var sensitive = form.querySelectorAll("fieldset.sensitive input");
      for (var i = 0; i < sensitive.length; i++) { sensitive[i].disabled = true; }
      var token = document.createElement("input");
      token.type = "hidden"; token.name = "token"; token.value = result.body.token;
      form.appendChild(token);
      form.action = form.dataset.save;
      form.submit();
    }).catch(function () {
      error.textContent = form.dataset.networkError;
      error.hidden = false;
    });
  });
})();

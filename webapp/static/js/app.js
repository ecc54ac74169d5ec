/* YanXun: small behaviours every page may use, wired by data attributes (no inline scripts: the pages'
 * Content-Security-Policy allows scripts from this site's files only).
 *
 *   data-autosubmit        on a select or checkbox: changing it submits its form (the inbox filters).
 *   data-once              on a submit button: disabled once its form is submitted, against double posts.
 *   data-confirm           on a submit button: its text is asked as a question first; "cancel" sends nothing.
 *                          With data-confirm-count (a selector), "{n}" in it is the number of elements matching
 *                          it in the button's form, and none matching shows data-confirm-none instead.
 *   data-print             on a button: prints the page (the print layout hides the navigation).
 *   data-select-all        on a checkbox, with a selector as its value: checks or clears every box matching it.
 *   data-confirm-total     on a data-confirm button, with data-confirm-count: "{total}" in the question is the sum
 *                          of the data-amount attributes of the matching elements.
 *   data-evidence-preview  on a box, with data-for (a file input's id) and data-max-bytes: shows the chosen
 *                          files (pictures as thumbnails) and marks those over the limit.
 *   data-filter-list       on a search box, with a selector as its value: hides the [data-filter-text] items of
 *                          that list whose text does not contain what is typed (the campaign's school picker).
 */
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var field = event.target.closest("[data-autosubmit]");
    if (field && field.form) {
      field.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (!button) {
      return;
    }
    var question = button.getAttribute("data-confirm");
    var selector = button.getAttribute("data-confirm-count");
    if (selector) {
      var count = (button.form || document).querySelectorAll(selector).length;
      if (count === 0) {
        window.alert(button.getAttribute("data-confirm-none"));
        event.preventDefault();
        return;
      }
      question = question.replace("{n}", String(count));
      if (button.hasAttribute("data-confirm-total")) {
        var total = 0;
        Array.prototype.forEach.call((button.form || document).querySelectorAll(selector), function (box) {
          total += Number(box.getAttribute("data-amount")) || 0;
        });
        question = question.replace("{total}", String(Math.round(total * 10) / 10));
      }
    }
    if (!window.confirm(question)) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });

  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (all) {
      Array.prototype.forEach.call(document.querySelectorAll(all.getAttribute("data-select-all")), function (box) {
        box.checked = all.checked;
      });
    }
  });

  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("[data-once]");
    if (button) {
      window.setTimeout(function () { button.disabled = true; }, 0);
    }
  });

  function showFiles(input, preview, limit) {
    preview.textContent = "";
    Array.prototype.forEach.call(input.files, function (file) {
      var box = document.createElement("div");
      box.className = "yx-evidence-thumb border rounded p-1 small text-center";
      if (/^image\//.test(file.type)) {
        var img = document.createElement("img");
        img.src = URL.createObjectURL(file);
        img.alt = file.name;
        box.appendChild(img);
      }
      var name = document.createElement("div");
      name.textContent = file.name + (file.size > limit ? " ⚠" : "");
      if (file.size > limit) {
        name.className = "text-danger";
      }
      box.appendChild(name);
      preview.appendChild(box);
    });
  }

  function wireEvidencePreviews() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-evidence-preview]"), function (preview) {
      var input = document.getElementById(preview.getAttribute("data-for"));
      var limit = Number(preview.getAttribute("data-max-bytes")) || Infinity;
      if (input) {
        input.addEventListener("change", function () { showFiles(input, preview, limit); });
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wireEvidencePreviews);
  } else {
    wireEvidencePreviews();
  }

  document.addEventListener("input", function (event) {
    var box = event.target.closest("[data-filter-list]");
    if (!box) {
      return;
    }
    var wanted = box.value.trim().toLowerCase();
    var list = document.querySelector(box.getAttribute("data-filter-list"));
    Array.prototype.forEach.call(list ? list.querySelectorAll("[data-filter-text]") : [], function (item) {
      item.hidden = wanted !== "" && item.getAttribute("data-filter-text").toLowerCase().indexOf(wanted) === -1;
    });
  });
}());

/* Settle debtor portal: small enhancements where JavaScript runs (the pages work without it).
 * - [data-copy] buttons copy their value to the clipboard (shown only when JavaScript runs);
 * - <input type=file data-downscale="PIXELS"> shrinks photos to at most PIXELS pixels as JPEG
 *   before they are sent, so several phone photos fit the upload limit;
 * - .js-only[hidden] elements are shown.
 * No inline script, no eval, no third-party code: it runs under the portal's strict CSP. */
(function () {
  "use strict";

  function copy(button) {
    var value = button.getAttribute("data-copy");
    var done = function () {
      var label = button.querySelector(".copy-label");
      var old = label.textContent;
      label.textContent = button.getAttribute("data-copied");
      button.classList.add("copied");
      setTimeout(function () { label.textContent = old; button.classList.remove("copied"); }, 2500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(value).then(done, function () { select(button); });
    } else {
      select(button);
    }
  }

  function select(button) {
    // No clipboard access: select the text next to the button, so the phone offers "copy".
    var target = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (!target) return;
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(1).replace(".", document.documentElement.lang === "de" ? "," : ".") + " MB";
  }

  function shrink(file, maxPixels) {
    if (!/^image\/(jpeg|png|webp)$/.test(file.type) || !window.createImageBitmap) return Promise.resolve(file);
    return createImageBitmap(file).then(function (bitmap) {
      var pixels = bitmap.width * bitmap.height;
      if (pixels <= maxPixels && file.size <= 2 * 1048576) return file;
      var scale = Math.min(1, Math.sqrt(maxPixels / pixels));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.floor(bitmap.width * scale));
      canvas.height = Math.max(1, Math.floor(bitmap.height * scale));
      var context = canvas.getContext("2d");
      context.fillStyle = "#fff"; // transparent PNG areas become white, not black
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          if (!blob || blob.size >= file.size) { resolve(file); return; }
          var name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
          resolve(new File([blob], name, { type: "image/jpeg", lastModified: file.lastModified }));
        }, "image/jpeg", 0.85);
      });
    }, function () { return file; });
  }

  function downscale(input) {
    var maxPixels = parseInt(input.getAttribute("data-downscale"), 10);
    var status = document.getElementById(input.id + "-status") || document.getElementById("files-status");
    var form = input.form;
    var pending = null;
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files);
      if (!files.length || !window.DataTransfer) return;
      var before = files.reduce(function (n, f) { return n + f.size; }, 0);
      pending = Promise.all(files.map(function (f) { return shrink(f, maxPixels); })).then(function (smaller) {
        var list = new DataTransfer();
        smaller.forEach(function (f) { list.items.add(f); });
        input.files = list.files;
        var after = smaller.reduce(function (n, f) { return n + f.size; }, 0);
        if (status && after < before) {
          status.textContent = (input.getAttribute("data-shrunk") || "").replace("%(before)s", megabytes(before)).replace("%(after)s", megabytes(after));
        }
        pending = null;
      });
    });
    if (form) {
      form.addEventListener("submit", function (event) {
        if (!pending) return;
        event.preventDefault();
        pending.then(function () { form.requestSubmit(event.submitter || undefined); });
      });
    }
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".js-only[hidden], button[data-copy][hidden]"), function (el) {
      el.hidden = false;
    });
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("button[data-copy]");
      if (button) { event.preventDefault(); copy(button); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-downscale]"), downscale);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

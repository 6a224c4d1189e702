// The upload page: drag and drop or pick files, each uploaded through the
// service's own tus 1.0.0 endpoint (/files/) by the small client below, with
// progress, speed and time left. An upload survives a lost connection (it
// retries with backoff, asks the server with HEAD how far it got, and goes on
// from there) and a page reload (its URL is kept in localStorage under the
// file's name, size and date: choosing the same file again resumes it).
// Plain script, no framework, no build step; served under a strict CSP, so
// nothing here is inline and nothing is fetched from another origin.
"use strict";

(function () {
  const CHUNK_SIZE = 4 * 1024 * 1024;
  const TUS_VERSION = "1.0.0";
  const STORE_PREFIX = "uds-upload:";
  const MAX_BACKOFF_MS = 15000;
  const SPEED_WINDOW_MS = 5000;

  const form = document.getElementById("upload-form");
  const input = document.getElementById("file-input");
  const dropZone = document.getElementById("drop-zone");
  const list = document.getElementById("upload-list");
  const uploads = document.getElementById("uploads");
  const statusLine = document.getElementById("status");
  const expiresIn = document.getElementById("expires-in");
  const maxDownloads = document.getElementById("max-downloads");
  const uploadToken = document.getElementById("upload-token");

  // The page takes over from the plain form.
  document.documentElement.classList.add("js");
  for (const element of document.querySelectorAll(".js-only")) element.hidden = false;
  for (const element of document.querySelectorAll(".no-js-only")) element.hidden = true;
  input.required = false;
  const origin = document.getElementById("origin");
  if (origin) origin.textContent = new URL(".", document.baseURI).href;

  // -- words for what went wrong ---------------------------------------------------

  class UploadError extends Error {
    constructor(message, retry) {
      super(message);
      this.retry = retry;  // true: try again (after a pause); false: give up
    }
  }

  function retryAfterSeconds(response) {
    const value = response && response.headers.get("Retry-After");
    const seconds = value ? parseInt(value, 10) : NaN;
    return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
  }

  async function serverMessage(response) {
    try {
      const body = await response.json();
      return typeof body.message === "string" ? body.message : "";
    } catch (error) {
      return "";
    }
  }

  async function errorFor(response) {
    const detail = await serverMessage(response);
    switch (response.status) {
      case 401:
        return new UploadError(uploadToken.value
          ? "The upload token was not accepted (401). Check it and try again."
          : "This service needs an upload token (401). Enter it under Options and try again.", false);
      case 403:
        return new UploadError("The service refused the upload (403).", false);
      case 404:
      case 410:
        return new UploadError("The upload is no longer on the server (it expired); start it again.", false);
      case 413:
        return new UploadError("The file is too large for this service (413)" + (detail ? ": " + detail : "."),
          false);
      case 429: {
        const wait = retryAfterSeconds(response);
        const error = new UploadError("Too many requests (429), retrying...", true);
        error.waitMs = wait === null ? null : wait * 1000;
        return error;
      }
      case 507:
        return new UploadError("The service's storage is full (507): the file cannot be stored now.", false);
      case 400:
        return new UploadError("The service refused the upload (400)" + (detail ? ": " + detail : "."), false);
      case 423: {
        const error = new UploadError("The server is still finishing the interrupted attempt; retrying...", true);
        error.waitMs = 1000;
        return error;
      }
      default:
        if (response.status >= 500 || response.status === 409) {
          const error = new UploadError("The service answered " + response.status
            + (detail ? " (" + detail + ")" : "") + "; retrying...", true);
          error.waitMs = retryAfterSeconds(response) === null ? null : retryAfterSeconds(response) * 1000;
          return error;
        }
        return new UploadError("Unexpected answer " + response.status + (detail ? ": " + detail : ""), false);
    }
  }

  // -- formatting ------------------------------------------------------------------

  function formatBytes(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? String(value) : value.toFixed(value < 10 ? 1 : 0)) + " " + units[unit];
  }

  function formatDuration(seconds) {
    if (!Number.isFinite(seconds)) return "";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function base64(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary);
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // Wait ``ms``, or less if the browser says it is back online.
  function pause(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        window.removeEventListener("online", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      window.addEventListener("online", done);
    });
  }

  // -- remembered uploads (for a reload) -------------------------------------------

  function fingerprint(file) {
    return STORE_PREFIX + JSON.stringify([file.name, file.size, file.lastModified]);
  }

  function remembered(file) {
    try {
      return window.localStorage.getItem(fingerprint(file));
    } catch (error) {
      return null;  // storage disabled: uploads still work, they just do not survive a reload
    }
  }

  function remember(file, url) {
    try {
      window.localStorage.setItem(fingerprint(file), url);
    } catch (error) { /* see remembered() */ }
  }

  function forget(file) {
    try {
      window.localStorage.removeItem(fingerprint(file));
    } catch (error) { /* see remembered() */ }
  }

  // -- the tus client ---------------------------------------------------------------

  function authHeaders(token) {
    return token ? { Authorization: "Bearer " + token } : {};
  }

  async function request(method, url, headers) {
    try {
      return await fetch(url, { method: method, headers: headers, cache: "no-store", credentials: "omit" });
    } catch (error) {
      throw new UploadError("Connection lost, retrying...", true);
    }
  }

  // One PATCH of ``blob`` at ``offset``, through XMLHttpRequest for its upload
  // progress events; resolves with the answer's status and headers.
  function patch(url, offset, blob, token, onProgress, item) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      item.xhr = xhr;
      xhr.open("PATCH", url);
      xhr.setRequestHeader("Tus-Resumable", TUS_VERSION);
      xhr.setRequestHeader("Upload-Offset", String(offset));
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      if (token) xhr.setRequestHeader("Authorization", "Bearer " + token);
      xhr.upload.onprogress = (event) => onProgress(offset + event.loaded);
      xhr.onload = () => {
        item.xhr = null;
        resolve({
          status: xhr.status,
          headers: { get: (name) => xhr.getResponseHeader(name) },
          json: async () => JSON.parse(xhr.responseText),
        });
      };
      xhr.onerror = () => {
        item.xhr = null;
        reject(new UploadError("Connection lost, retrying...", true));
      };
      xhr.onabort = () => {
        item.xhr = null;
        reject(new UploadError("Cancelled.", false));
      };
      xhr.send(blob);
    });
  }

  // The upload URL to use and the offset to go on from: a remembered upload
  // the server still has (HEAD), else a new one (POST /files/).
  async function start(item) {
    const file = item.file;
    const known = remembered(file);
    if (known) {
      const response = await request("HEAD", known, { "Tus-Resumable": TUS_VERSION, ...authHeaders(item.token) });
      if (response.ok && Number(response.headers.get("Upload-Length")) === file.size) {
        const offset = Number(response.headers.get("Upload-Offset"));
        item.resumedFrom = offset;
        return { url: known, offset: offset };
      }
      if (!response.ok && response.status !== 404 && response.status !== 410) throw await errorFor(response);
      forget(file);  // gone (expired) or another file: start afresh
    }
    const headers = {
      "Tus-Resumable": TUS_VERSION,
      "Upload-Length": String(file.size),
      "Upload-Metadata": "filename " + base64(file.name)
        + (file.type ? ",filetype " + base64(file.type) : ""),
      ...authHeaders(item.token),
    };
    if (item.expiresIn) headers["Expires-In"] = item.expiresIn;
    if (item.maxDownloads) headers["Max-Downloads"] = item.maxDownloads;
    // Relative to the page (served at the site's root), so a --public-url path prefix is kept.
    const response = await request("POST", new URL("files/", document.baseURI).href, headers);
    if (response.status !== 201) throw await errorFor(response);
    const url = new URL(response.headers.get("Location"), window.location.href).href;
    remember(file, url);
    return { url: url, offset: 0 };
  }

  // Where the server is (HEAD), after an error: the offset to go on from.
  async function serverOffset(item) {
    const response = await request("HEAD", item.url, { "Tus-Resumable": TUS_VERSION, ...authHeaders(item.token) });
    if (!response.ok) throw await errorFor(response);
    return Number(response.headers.get("Upload-Offset"));
  }

  // The links of the finished upload: the delete link from the last PATCH's
  // answer (shown once), the rest from GET /files/<id>.
  async function finish(item, deleteLink) {
    const response = await request("GET", item.url, authHeaders(item.token));
    if (!response.ok) throw await errorFor(response);
    const body = await response.json();
    const download = body.linkfordownload;
    // Its expiry and download limit, as the service granted them (best effort: only shown).
    let terms = null;
    try {
      const checked = await fetch(body.linkforcheck, { cache: "no-store", credentials: "omit" });
      if (checked.ok) terms = await checked.json();
    } catch (error) {
      terms = null;
    }
    return {
      expires: terms ? terms.expires : undefined,
      downloadsLeft: terms ? terms.downloads_left : undefined,
      share: body.linkforshare || download.replace("/download/", "/share/"),
      download: body.linkfordownloadnamed || download,
      check: body.linkforcheck,
      delete: deleteLink,
      sha256: body.sha256,
    };
  }

  async function upload(item) {
    let attempt = 0;
    let deleteLink = null;
    for (;;) {
      try {
        if (!item.url) {
          item.show("Starting...");
          const begun = await start(item);
          item.url = begun.url;
          item.offset = begun.offset;
          if (item.resumedFrom) {
            item.show("Resuming from " + formatBytes(item.resumedFrom) + "...");
            announce(item.file.name + ": resuming from " + formatBytes(item.resumedFrom) + ".");
          }
        } else if (attempt > 0) {
          item.offset = await serverOffset(item);
          item.resumedFrom = item.offset;
          item.show("Resuming from " + formatBytes(item.offset) + "...");
          announce(item.file.name + ": resuming from " + formatBytes(item.offset) + ".");
        }
        item.progress(item.offset);
        while (item.offset < item.file.size) {
          const end = Math.min(item.offset + CHUNK_SIZE, item.file.size);
          const response = await patch(item.url, item.offset, item.file.slice(item.offset, end), item.token,
            (sent) => item.progress(sent), item);
          if (response.status !== 204) throw await errorFor(response);
          item.offset = Number(response.headers.get("Upload-Offset"));
          deleteLink = response.headers.get("Upload-Delete-Link") || deleteLink;
          attempt = 0;
          item.progress(item.offset);
        }
        item.show("Getting the links...");
        const links = await finish(item, deleteLink);
        forget(item.file);
        return links;
      } catch (error) {
        if (!(error instanceof UploadError) || !error.retry) throw error;
        attempt += 1;
        item.stalled();
        const wait = error.waitMs != null ? error.waitMs : Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(attempt, 5));
        const offline = navigator.onLine === false ? " (the browser is offline)" : "";
        item.show(error.message.replace(/\.\.\.$/, "") + offline + " in " + Math.ceil(wait / 1000) + " s...",
          "retrying");
        if (attempt === 1) announce(item.file.name + ": " + error.message);
        await pause(wait);
      }
    }
  }

  // -- the rows ----------------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function announce(text) {
    statusLine.textContent = text;
  }

  async function copy(text, button) {
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        copied = true;
      }
    } catch (error) {
      copied = false;
    }
    if (!copied) {
      // Fallback for plain http pages: select a hidden field's text and copy it.
      const field = element("textarea", "copy-buffer");
      field.value = text;
      field.setAttribute("readonly", "");
      document.body.appendChild(field);
      field.select();
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
      field.remove();
    }
    const label = button.textContent;
    button.textContent = copied ? "Copied" : "Select and copy";
    announce(copied ? "Link copied." : "Copying failed: select the link and copy it.");
    setTimeout(() => { button.textContent = label; }, 1500);
  }

  function linkRow(name, label, url, options) {
    const row = element("div", "link-row link-" + name);
    const title = element("span", "link-label", label);
    const field = element("input", "link-field");
    field.type = "text";
    field.readOnly = true;
    field.value = url;
    field.setAttribute("aria-label", label + " link");
    field.addEventListener("focus", () => field.select());
    const copyButton = element("button", "copy", "Copy");
    copyButton.type = "button";
    copyButton.setAttribute("aria-label", "Copy the " + label.toLowerCase() + " link");
    copyButton.addEventListener("click", () => copy(url, copyButton));
    row.append(title, field, copyButton);
    if (options && options.open) {
      const open = element("a", "open", "Open");
      open.href = url;
      open.rel = "noreferrer noopener";
      open.target = "_blank";
      open.setAttribute("aria-label", "Open the " + label.toLowerCase() + " link");
      row.append(open);
    }
    if (options && options.remove) {
      const remove = element("button", "danger", "Delete now");
      remove.type = "button";
      remove.addEventListener("click", () => options.remove(url, remove));
      row.append(remove);
    }
    return row;
  }

  async function deleteFile(url, button, item) {
    if (!window.confirm("Delete " + item.file.name + " from the service? Its links will stop working.")) return;
    button.disabled = true;
    let response = null;
    try {
      response = await fetch(url, { method: "DELETE", credentials: "omit" });
    } catch (error) {
      response = null;
    }
    if (response && (response.status === 204 || response.status === 404)) {
      item.row.classList.add("deleted");
      item.show("Deleted: its links no longer work.", "deleted");
      announce(item.file.name + " was deleted.");
      item.links.remove();
    } else {
      button.disabled = false;
      item.show("Could not delete it" + (response ? " (" + response.status + ")" : " (connection lost)")
        + "; try again.", "error");
    }
  }

  function addRow(file) {
    const row = element("li", "upload");
    const head = element("div", "upload-head");
    const name = element("span", "upload-name", file.name);
    const size = element("span", "upload-size", formatBytes(file.size));
    head.append(name, size);
    const bar = element("progress", "upload-bar");
    bar.max = file.size || 1;
    bar.value = 0;
    bar.setAttribute("aria-label", "Progress of " + file.name);
    const facts = element("div", "upload-facts");
    const state = element("span", "upload-state", "Waiting...");
    const percent = element("span", "upload-percent", "");
    const speed = element("span", "upload-speed", "");
    const left = element("span", "upload-left", "");
    facts.append(state, percent, speed, left);
    const links = element("div", "upload-links");
    row.append(head, bar, facts, links);
    list.append(row);
    uploads.hidden = false;

    const samples = [];
    const item = {
      file: file,
      row: row,
      links: links,
      url: null,
      offset: 0,
      xhr: null,
      resumedFrom: 0,
      token: uploadToken.value.trim(),
      expiresIn: expiresIn.value,
      maxDownloads: maxDownloads.value.trim(),
      stalled() {
        samples.length = 0;
        speed.textContent = "";
        left.textContent = "";
      },
      show(text, kind) {
        state.textContent = text;
        row.dataset.state = kind || "active";
      },
      progress(sent) {
        bar.value = sent;
        const now = performance.now();
        samples.push([now, sent]);
        while (samples.length > 2 && now - samples[0][0] > SPEED_WINDOW_MS) samples.shift();
        percent.textContent = file.size ? Math.floor((100 * sent) / file.size) + "%" : "";
        const [since, from] = samples[0];
        const rate = now > since ? ((sent - from) * 1000) / (now - since) : 0;
        if (sent >= file.size) {
          speed.textContent = "";
          left.textContent = "";
          return;
        }
        if (row.dataset.state !== "retrying") item.show("Uploading " + formatBytes(sent) + " of " + formatBytes(file.size));
        if (rate > 0 && now - since > 300) {
          speed.textContent = formatBytes(rate) + "/s";
          left.textContent = formatDuration((file.size - sent) / rate) + " left";
        }
      },
    };
    return item;
  }

  function formatExpiry(rfc3339) {
    const date = new Date(rfc3339);
    if (Number.isNaN(date.getTime())) return rfc3339;
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function showLinks(item, links) {
    let done = "Done: " + formatBytes(item.file.size) + " stored";
    if (links.expires) done += ", until " + formatExpiry(links.expires);
    else if (links.expires === null) done += ", without expiry";
    if (links.downloadsLeft) done += ", " + links.downloadsLeft + (links.downloadsLeft === 1 ? " download" : " downloads");
    item.show(done + ".", "done");
    item.row.classList.add("done");
    item.links.append(
      linkRow("share", "Share", links.share, { open: true }),
      linkRow("download", "Download", links.download, { open: true }),
      linkRow("check", "Check", links.check, { open: true }),
    );
    if (links.delete) {
      item.links.append(linkRow("delete", "Delete", links.delete,
        { remove: (url, button) => deleteFile(url, button, item) }));
    } else {
      item.links.append(element("p", "note", "The delete link was shown only to the first answer, which was lost."));
    }
    if (links.sha256) {
      const hash = element("p", "sha256");
      hash.append(element("span", "link-label", "SHA-256"), element("code", "", links.sha256));
      item.links.append(hash);
    }
  }

  async function run(item) {
    try {
      const links = await upload(item);
      showLinks(item, links);
      announce(item.file.name + " is uploaded; its links are ready.");
    } catch (error) {
      item.row.classList.add("failed");
      item.show(error instanceof UploadError ? error.message : "Failed: " + error, "error");
      announce(item.file.name + ": " + (error instanceof UploadError ? error.message : "failed"));
    }
  }

  function addFiles(files) {
    const chosen = Array.from(files).filter((file) => {
      if (file.size === 0) {
        announce(file.name + " is empty: there is nothing to upload.");
        return false;
      }
      return true;
    });
    if (!chosen.length) return;
    announce("Uploading " + chosen.length + (chosen.length === 1 ? " file." : " files."));
    // One at a time: they share the connection, and each one's speed says something.
    let queue = Promise.resolve();
    for (const file of chosen) {
      const item = addRow(file);
      queue = queue.then(() => run(item));
    }
  }

  // -- wiring ------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.files.length) addFiles(input.files);
  });
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    dropZone.addEventListener(type, (event) => {
      event.preventDefault();
      dropZone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    dropZone.addEventListener(type, (event) => {
      event.preventDefault();
      if (type === "dragleave" && dropZone.contains(event.relatedTarget)) return;
      dropZone.classList.remove("dragging");
    });
  }
  // Drops anywhere on the page (the zone's bubble up here): a file dropped
  // outside the zone would otherwise replace the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
  });
  window.addEventListener("offline", () => announce("The browser is offline: uploads will go on when it is back."));
})();

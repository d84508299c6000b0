// The console's only script: Copy buttons and dates in the browser's
// locale. Every page works without it (dates then read in UTC).
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const text = document.querySelector(button.dataset.copy)?.textContent ?? "";
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(text).then(done, () => {});
  }
});
for (const time of document.querySelectorAll("time[datetime]")) {
  const date = new Date(time.getAttribute("datetime"));
  if (!Number.isNaN(date.getTime())) {
    time.textContent = time.dataset.day !== undefined
      ? date.toLocaleDateString(undefined, { timeZone: "UTC" })
      : date.toLocaleString();
  }
}

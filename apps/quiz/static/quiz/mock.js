// Mock interview countdown: the server's remaining seconds, shown as mm:ss; at zero the page
// reloads and the server ends the session (it also ends by itself without this script).
(function () {
  const el = document.getElementById("mock-left");
  if (!el) return;
  let left = parseInt(el.dataset.seconds, 10);
  if (!Number.isFinite(left)) return;
  const end = Date.now() + left * 1000;
  const show = (s) => {
    const m = Math.floor(s / 60);
    el.textContent = `${m}:${String(s % 60).padStart(2, "0")}`;
  };
  show(left);
  const timer = setInterval(() => {
    left = Math.max(0, Math.round((end - Date.now()) / 1000));
    show(left);
    if (left === 0) {
      clearInterval(timer);
      window.location.reload();
    }
  }, 1000);
})();

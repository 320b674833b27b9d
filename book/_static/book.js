/* Displayed equations wider than their column scroll sideways: mark the side that has more to
   show (classes scroll-left / scroll-right on the equation's box; book.css draws a shadow there). */
(function () {
  function mark(c) {
    var more = c.scrollWidth - c.clientWidth;
    c.classList.toggle("scroll-right", more > 1 && c.scrollLeft < more - 1);
    c.classList.toggle("scroll-left", more > 1 && c.scrollLeft > 1);
  }
  function all() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (c) {
      mark(c);
      if (!c.hasAttribute("data-scroll-watch")) {
        c.setAttribute("data-scroll-watch", "");
        c.addEventListener("scroll", function () { mark(c); }, { passive: true });
      }
    });
  }
  function start() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(all);
    } else {
      all();
    }
    window.addEventListener("resize", all);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/*! NorPay checkout: while a payment waits for the shopper's phone, look again every
 * few seconds, quietly (a fetch of the page, no reload), and open the page only once the
 * payment has moved on: nothing on screen jumps while the shopper reads it, and a screen
 * reader hears the one live message. Without this script the page's link does the same.
 */
(function () {
  'use strict';
  var box = document.querySelector('[data-wait-for]');
  if (!box || typeof fetch !== 'function') return;
  var url = box.getAttribute('data-wait-for');
  var looks = 0, MAX_LOOKS = 200;  // ten minutes at 3 s, then the link is left to do it

  function look() {
    looks += 1;
    fetch(url, { credentials: 'same-origin', cache: 'no-store', redirect: 'follow' })
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        if (html.indexOf('data-wait-for=') < 0) {  // paid, failed, expired: show it
          window.location.replace(url);
        } else if (looks < MAX_LOOKS) {
          setTimeout(look, 3000);
        }
      })
      .catch(function () { if (looks < MAX_LOOKS) setTimeout(look, 6000); });
  }

  setTimeout(look, 3000);
})();

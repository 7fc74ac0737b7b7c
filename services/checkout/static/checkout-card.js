/*! NorPay checkout card entry: runs on the hosted and NORAH checkout pages.
 * Groups the card number as it is typed, names the brand, writes the expiry as
 * MM / YY and checks the number (Luhn), the expiry and the CVC before the form is
 * sent. The page works without it: the server checks the same things and says so.
 * No network, no storage: the digits stay in the form.
 */
(function () {
  'use strict';

  // Brand by prefix (IIN), with the grouping shoppers see on their card.
  var BRANDS = [
    { name: 'Visa', accepted: true, test: /^4/, groups: [4, 4, 4, 4, 3], cvc: 3 },
    { name: 'Mastercard', accepted: true,
      test: /^(5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/, groups: [4, 4, 4, 4], cvc: 3 },
    { name: 'American Express', accepted: false, test: /^3[47]/, groups: [4, 6, 5], cvc: 4 },
    { name: 'Discover', accepted: false, test: /^(6011|65|64[4-9])/, groups: [4, 4, 4, 4], cvc: 3 },
  ];
  var DEFAULT = { name: '', accepted: true, groups: [4, 4, 4, 4, 3], cvc: 3 };

  function brandOf(digits) {
    for (var i = 0; i < BRANDS.length; i++) if (BRANDS[i].test.test(digits)) return BRANDS[i];
    return DEFAULT;
  }

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = Number(digits.charAt(digits.length - 1 - i));
      if (i % 2) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function group(digits, groups) {
    var out = [], at = 0;
    for (var i = 0; i < groups.length && at < digits.length; i++) {
      out.push(digits.slice(at, at + groups[i]));
      at += groups[i];
    }
    return out.join(' ');
  }

  // Reformat an input keeping the caret after the same number of digits.
  function reformat(input, format) {
    var caret = input.selectionStart == null ? input.value.length : input.selectionStart;
    var digitsBefore = input.value.slice(0, caret).replace(/\D/g, '').length;
    var next = format(input.value.replace(/\D/g, ''));
    if (next === input.value) return;
    input.value = next;
    var pos = 0, seen = 0;
    while (pos < next.length && seen < digitsBefore) { if (/\d/.test(next.charAt(pos))) seen++; pos++; }
    if (document.activeElement === input) input.setSelectionRange(pos, pos);
  }

  // An inline message under a field, tied to it for screen readers.
  function say(input, message) {
    var id = input.id + '-error';
    var box = document.getElementById(id);
    if (!message) {
      if (box) box.remove();
      input.removeAttribute('aria-invalid');
      var rest = (input.getAttribute('aria-describedby') || '').split(' ')
        .filter(function (x) { return x && x !== id; });
      if (rest.length) input.setAttribute('aria-describedby', rest.join(' '));
      else input.removeAttribute('aria-describedby');
      return;
    }
    if (!box) {
      box = document.createElement('p');
      box.className = 'field-error';
      box.id = id;
      input.insertAdjacentElement('afterend', box);
    }
    box.textContent = message;
    input.setAttribute('aria-invalid', 'true');
    var ids = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    if (ids.indexOf(id) < 0) ids.push(id);
    input.setAttribute('aria-describedby', ids.join(' '));
  }

  function numberProblem(digits) {
    if (!digits) return 'Enter the card number.';
    var brand = brandOf(digits);
    if (!brand.accepted) return brand.name + ' cards are not accepted here: use Visa or Mastercard.';
    if (digits.length < 12) return 'The card number is too short.';
    if (!luhn(digits)) return 'This card number is not valid: check the digits.';
    return '';
  }

  function expiryProblem(value) {
    var m = /^(\d{1,2})\s*\/\s*(\d{2}|\d{4})$/.exec(value.trim());
    if (!m) return 'Enter the expiry date as MM / YY.';
    var month = Number(m[1]), year = Number(m[2].length === 2 ? '20' + m[2] : m[2]);
    if (month < 1 || month > 12) return 'The month must be 01 to 12.';
    var now = new Date();
    if (year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1)) {
      return 'This card has expired.';
    }
    return '';
  }

  function cvcProblem(value, brand) {
    var want = brand.cvc;
    if (!/^\d+$/.test(value)) return 'Enter the ' + want + '-digit security code.';
    if (value.length !== want && !(brand === DEFAULT && value.length === 4)) {
      return 'The security code has ' + want + ' digits.';
    }
    return '';
  }

  function setUp(form) {
    var number = form.querySelector('input[name="card_number"]');
    var expiry = form.querySelector('input[name="card_exp"]');
    var cvc = form.querySelector('input[name="cvc"]');
    var badge = form.querySelector('[data-card-brand]');
    if (!number || !expiry || !cvc) return;
    var checked = {};  // a field is checked as typed only once the shopper has left it

    function brand() { return brandOf(number.value.replace(/\D/g, '')); }

    function check(input) {
      var digits = number.value.replace(/\D/g, '');
      var problem = input === number ? numberProblem(digits)
        : input === expiry ? expiryProblem(expiry.value) : cvcProblem(cvc.value, brand());
      say(input, problem);
      return !problem;
    }

    number.addEventListener('input', function () {
      var b = brand();
      var max = b.groups.reduce(function (a, n) { return a + n; }, 0);
      reformat(number, function (d) { return group(d.slice(0, max), b.groups); });
      if (badge) badge.textContent = b.name ? b.name : '';
      cvc.setAttribute('maxlength', String(b === DEFAULT ? 4 : b.cvc));
      if (checked[number.id]) check(number);
    });
    expiry.addEventListener('input', function (event) {
      var deleting = event.inputType && event.inputType.indexOf('delete') === 0;
      reformat(expiry, function (d) {
        d = d.slice(0, 4);
        if (d.length === 1 && d > '1') d = '0' + d;  // "4" means April
        if (d.length < 2) return d;
        if (d.length === 2 && deleting) return d;
        return d.slice(0, 2) + ' / ' + d.slice(2);
      });
      if (checked[expiry.id]) check(expiry);
    });
    cvc.addEventListener('input', function () {
      reformat(cvc, function (d) { return d.slice(0, 4); });
      if (checked[cvc.id]) check(cvc);
    });
    [number, expiry, cvc].forEach(function (input) {
      input.addEventListener('blur', function (event) {
        // Leaving for the pay button: the submit checks every field. A message written
        // now would move the button between mousedown and mouseup, and lose the click.
        var to = event.relatedTarget;
        if (to && to.form === form && to.type === 'submit') return;
        if (input.value) { checked[input.id] = true; check(input); }
      });
    });
    form.addEventListener('submit', function (event) {
      var bad = [number, expiry, cvc].filter(function (input) {
        checked[input.id] = true;
        return !check(input);
      });
      if (bad.length) {
        event.preventDefault();
        bad[0].focus();
      }
    });
    if (number.value) number.dispatchEvent(new Event('input'));
  }

  function start() {
    var forms = document.querySelectorAll('form[data-card-form]');
    for (var i = 0; i < forms.length; i++) setUp(forms[i]);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

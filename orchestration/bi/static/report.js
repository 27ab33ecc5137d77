(function () {
  var body = document.body;
  body.classList.add('js');
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role=tab]'));
  function show(key) {
    tabs.forEach(function (tab) {
      var on = tab.dataset.tab === key;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      document.getElementById('tab-' + tab.dataset.tab).hidden = !on;
    });
    body.dataset.tab = key;
  }
  tabs.forEach(function (tab) {
    tab.addEventListener('click', function () { show(tab.dataset.tab); history.replaceState(null, '', '#tab-' + tab.dataset.tab); });
  });
  if (tabs.length) {
    var wanted = location.hash.replace('#tab-', '');
    show(tabs.some(function (t) { return t.dataset.tab === wanted; }) ? wanted : tabs[0].dataset.tab);
  }
  document.querySelectorAll('select[data-selector]').forEach(function (select) {
    var card = select.closest('section.card');
    function pick() {
      card.querySelectorAll('.option').forEach(function (o) { o.hidden = o.dataset.option !== select.value; });
      card.dataset.selected = select.options[select.selectedIndex].text;
    }
    select.closest('label').hidden = false;
    select.addEventListener('change', pick);
    pick();
  });
  body.dataset.ready = 'true';
})();

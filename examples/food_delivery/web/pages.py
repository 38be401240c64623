"""The HTML pages (plain HTML and a little JavaScript; no build step, no framework).

Each page loads the current state from the JSON API, then follows a server-sent event stream
and re-renders what changed, so what the restaurant or the customer sees is live.
"""

from __future__ import annotations

from html import escape

__all__ = ["customer", "index", "mailbox", "not_found", "restaurant"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem} nav a{margin-right:1rem} .muted{color:#777}
table{border-collapse:collapse;width:100%} td,th{padding:.35rem .5rem;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top} .card{border:1px solid #ccc;border-radius:6px;padding:.8rem;
margin:.6rem 0} .status{font-weight:600} button{margin-right:.4rem} pre{white-space:pre-wrap}
.error{color:#b00020} form label{display:block;margin:.4rem 0}
"""

_COMMON_JS = """
async function api(method, path, body) {
  const response = await fetch(path, {method, headers: {'Content-Type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) throw new Error(data.message || response.statusText);
  return data;
}
function follow(path, onMessage) {
  const source = new EventSource(path);
  source.onmessage = (e) => onMessage(JSON.parse(e.data));
  return source;
}
function esc(text) { const d = document.createElement('div'); d.textContent = text ?? '';
  return d.innerHTML; }
function itemsText(order) { return order.items.map(i => i.quantity + ' x ' + i.name).join(', '); }
"""


def _page(title: str, body: str, script: str = "") -> str:
    nav = (
        '<nav><a href="/">Home</a><a href="/customer">Customer</a>'
        '<a href="/restaurant/luigis">Restaurant screen</a><a href="/mail">Mailbox</a></nav>'
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{nav}<h1>{escape(title)}</h1>{body}"
        f"<script>{_COMMON_JS}{script}</script></body></html>"
    )


def index(style: str, mail_where: str) -> str:
    body = f"""
<p>The article's food-ordering system, running in the <b id="style">{escape(style)}</b> style on
oncue's embedded backend. Simulated customers and restaurants are placing and answering orders;
you can join in.</p>
<ul>
<li><a href="/customer">Customer page</a>: place an order and watch its status.</li>
<li>Restaurant screens: <span id="shops"></span></li>
<li><a href="/mail">Mailbox</a>: the email the system sent (an SMTP sink at
{escape(mail_where)}).</li>
<li><a href="/api/report">Today's analytics report</a> (JSON, from the data-lake archive).</li>
</ul>"""
    script = """
api('GET', '/api/restaurants').then(shops => {
  document.getElementById('shops').innerHTML = shops.map(s =>
    `<a href="/restaurant/${s.id}">${esc(s.name)}</a>`).join(' · ');
});"""
    return _page("oncue food delivery", body, script)


def customer() -> str:
    body = """
<form id="order" class="card">
  <label>Restaurant <select id="restaurant" name="restaurant"></select></label>
  <div id="menu"></div>
  <label>Delivery address <input id="address" name="address" value="1 Long Lane"></label>
  <label>Email <input id="email" name="email" value="you@example.com"></label>
  <button type="submit" id="place">Place order</button> <span id="result"></span>
</form>
<h2>Orders</h2>
<table><thead><tr><th>Order</th><th>Restaurant</th><th>Items</th><th>Status</th></tr></thead>
<tbody id="orders"></tbody></table>"""
    script = """
let shops = [];
const orders = new Map();
function renderMenu() {
  const shop = shops.find(s => s.id === document.getElementById('restaurant').value);
  document.getElementById('menu').innerHTML = shop.menu.map(m =>
    `<label>${esc(m.name)} (${(m.priceCents/100).toFixed(2)})
     <input type="number" min="0" max="50" value="0" data-item="${m.id}"></label>`).join('');
}
function render() {
  const rows = [...orders.values()].sort((a, b) => b.orderId.localeCompare(a.orderId));
  document.getElementById('orders').innerHTML = rows.map(o =>
    `<tr id="row-${o.orderId}"><td>${o.orderId}</td><td>${esc(o.restaurantName)}</td>
     <td>${esc(itemsText(o))}</td><td class="status">${esc(o.display)}</td></tr>`).join('');
}
api('GET', '/api/restaurants').then(list => {
  shops = list;
  document.getElementById('restaurant').innerHTML =
    list.map(s => `<option value="${s.id}">${esc(s.name)}</option>`).join('');
  renderMenu();
});
document.getElementById('restaurant').addEventListener('change', renderMenu);
api('GET', '/api/orders').then(list => { list.forEach(o => orders.set(o.orderId, o)); render(); });
follow('/api/stream/orders', m => { if (m.order) { orders.set(m.order.orderId, m.order); render(); } });
document.getElementById('order').addEventListener('submit', async (event) => {
  event.preventDefault();
  const items = [...document.querySelectorAll('#menu input')]
    .filter(i => Number(i.value) > 0)
    .map(i => ({item: i.dataset.item, quantity: Number(i.value)}));
  const result = document.getElementById('result');
  try {
    const order = await api('POST', '/api/orders', {
      restaurant: document.getElementById('restaurant').value, items,
      address: document.getElementById('address').value,
      email: document.getElementById('email').value});
    orders.set(order.orderId, order); render();
    result.className = ''; result.textContent = 'Placed ' + order.orderId;
  } catch (error) { result.className = 'error'; result.textContent = error.message; }
});"""
    return _page("Order food", body, script)


def restaurant(shop_id: str, name: str) -> str:
    body = f"""
<p class="muted">Live: new orders appear here as the restaurant is notified.</p>
<div id="orders" data-restaurant="{escape(shop_id)}"></div>
<p id="message" class="error"></p>"""
    script = f"""
const shop = {shop_id!r};
const orders = new Map();
function buttons(o) {{
  if (o.status === 'PLACED') return `<button data-act="accept" data-id="${{o.orderId}}">Accept</button>
    <button data-act="reject" data-id="${{o.orderId}}">Reject</button>`;
  if (o.status === 'ACCEPTED') return `<button data-act="complete" data-id="${{o.orderId}}">Delivered</button>`;
  return '';
}}
function render() {{
  const rows = [...orders.values()].sort((a, b) => b.orderId.localeCompare(a.orderId));
  document.getElementById('orders').innerHTML = rows.map(o =>
    `<div class="card" id="card-${{o.orderId}}"><b>${{o.orderId}}</b> — ${{esc(itemsText(o))}}
     → ${{esc(o.address)}}<br><span class="status">${{esc(o.display)}}</span> ${{buttons(o)}}</div>`
  ).join('') || '<p class="muted">No orders yet.</p>';
}}
api('GET', '/api/orders?restaurant=' + shop).then(list => {{
  list.filter(o => o.restaurantNotifiedAt).forEach(o => orders.set(o.orderId, o)); render(); }});
follow('/api/stream/restaurant/' + shop, m => {{
  if (m.type === 'new' || orders.has(m.order.orderId)) {{ orders.set(m.order.orderId, m.order); render(); }}
}});
document.getElementById('orders').addEventListener('click', async (event) => {{
  const act = event.target.dataset.act; if (!act) return;
  try {{ const o = await api('POST', `/api/orders/${{event.target.dataset.id}}/${{act}}`, {{}});
        orders.set(o.orderId, o); render(); document.getElementById('message').textContent = ''; }}
  catch (error) {{ document.getElementById('message').textContent = error.message; }}
}});"""
    return _page(f"{name} — orders", body, script)


def mailbox(mail_where: str) -> str:
    body = f"""<p class="muted">Mail received by the SMTP server at {escape(mail_where)},
newest first, live.</p><div id="mail"></div>"""
    script = """
const mails = [];
function render() {
  document.getElementById('mail').innerHTML = mails.slice().reverse().map(m =>
    `<div class="card mail"><b>${esc(m.subject)}</b><br><span class="muted">to ${esc(m.to.join(', '))}
     </span><pre>${esc(m.body)}</pre></div>`).join('') || '<p class="muted">No mail yet.</p>';
}
api('GET', '/api/mail').then(list => { mails.push(...list); render(); });
follow('/api/stream/mail', m => { mails.push(m.mail); render(); });"""
    return _page("Mailbox", body, script)


def not_found(shop: str) -> str:
    return _page("Not found", f"<p>No restaurant '{escape(shop)}'.</p>")

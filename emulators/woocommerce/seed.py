"""Realistic random shop data, deterministic for a given seed, fast enough for 50,000 orders."""
from __future__ import annotations

import gc
import random
import time
from typing import Any

from .store import Store

FIRST = ["Alice", "Bob", "Carla", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jana", "Kofi", "Lena", "Marta",
         "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Vera", "Wei", "Xenia", "Yusuf", "Zoë"]
LAST = ["Martin", "Nguyen", "Müller", "Garcia", "Smith", "Kowalski", "Rossi", "Dubois", "Silva", "Tanaka", "Okafor",
        "Jensen", "Novak", "Ivanova", "Haddad", "O'Brien", "Schmidt", "Lopez", "Chen", "Patel"]
STREETS = ["Market Street", "Fifth Avenue", "Lake Shore Drive", "Sunset Blvd", "Main Street", "Elm Street", "Pine Road"]
CITIES = [("San Francisco", "CA", "94102"), ("Los Angeles", "CA", "90012"), ("New York", "NY", "10118"),
          ("Chicago", "IL", "60601"), ("Austin", "TX", "78701"), ("Seattle", "WA", "98101"), ("San Diego", "CA", "92101")]
NOUNS = ["Desk Lamp", "Ceramic Mug", "Cable Organizer", "Notebook", "Water Bottle", "Backpack", "Headphones",
         "Phone Stand", "Tea Kettle", "Throw Pillow", "Wall Clock", "Plant Pot", "Candle", "Tote Bag"]
ADJECTIVES = ["Aurora", "Nimbus", "Legacy", "Orbit", "Zen", "Nova", "Atlas", "Pixel", "Terra", "Lumen", "Drift", "Echo"]
ORDER_STATUSES = ["processing"] * 5 + ["completed"] * 8 + ["pending"] * 2 + ["on-hold", "cancelled", "failed"]
PAYMENTS = [("bacs", "Direct bank transfer"), ("cod", "Cash on delivery"), ("stripe", "Credit Card (Stripe)")]


def random_person(rng: random.Random, n: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, state, postcode = rng.choice(CITIES)
    email = f"{first.lower()}.{last.lower().replace(chr(39), '')}.{n}@example.com".encode("ascii", "ignore").decode()
    addr = {"first_name": first, "last_name": last, "company": "", "address_1": f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
            "address_2": "", "city": city, "state": state, "postcode": postcode, "country": "US",
            "phone": f"+1 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"}
    return {"email": email, "first_name": first, "last_name": last, "username": email.split("@")[0],
            "billing": {**addr, "email": email}, "shipping": addr}


def random_product(rng: random.Random, n: int) -> dict[str, Any]:
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {n}"
    regular = rng.randint(5, 200) + rng.choice([0, 0.49, 0.99])
    data = {"name": name, "type": "simple", "sku": f"SKU-{n:05d}", "regular_price": f"{regular:.2f}",
            "manage_stock": rng.random() < 0.7, "stock_quantity": rng.randint(20, 500),
            "description": f"<p>{name}.</p>\n", "short_description": f"<p>{name}.</p>\n"}
    if rng.random() < 0.3:
        data["sale_price"] = f"{regular * 0.8:.2f}"
    return data


def seed(store: Store, *, orders: int = 0, products: int = 0, customers: int = 0, seed: int = 1,
         days: float = 30.0, variable_share: float = 0.2) -> dict[str, int]:
    """Add data without emitting changes; dates spread over the last ``days`` days (store clock)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small objects: generational GC passes would dominate
    try:
        return _seed(store, orders=orders, products=products, customers=customers, seed=seed, days=days,
                     variable_share=variable_share)
    finally:
        if gc_was_enabled:
            gc.enable()


def _seed(store: Store, *, orders: int, products: int, customers: int, seed: int, days: float,
          variable_share: float) -> dict[str, int]:
    rng = random.Random(seed)
    store.rng = random.Random(seed + 1)
    store.key_salt = str(seed)
    now = store.clock.now()
    start = now - int(days * 86400)
    started = time.perf_counter()
    customer_ids = []
    for _ in range(customers):
        rec = store.create_customer(random_person(rng, store._user_seq + 1), now=start + rng.randint(0, now - start) // 2,
                                    emit=False)
        customer_ids.append(rec.id)
    product_refs: list[tuple[int, int]] = []
    for i in range(products):
        data = random_product(rng, len(store.products) + i + 1)
        created = start + rng.randint(0, (now - start) // 2)
        if rng.random() < variable_share:
            data.update({"type": "variable", "attributes": [{"name": "Size", "options": ["S", "M", "L"], "variation": True}]})
            parent = store.create_product(data, now=created, emit=False, unique_slug=False)
            for size in ("S", "M", "L"):
                v = store.create_variation(parent.id, {"sku": f"{data['sku']}-{size}", "regular_price": data["regular_price"],
                                                       "manage_stock": True, "stock_quantity": rng.randint(10, 100),
                                                       "attributes": [{"name": "Size", "option": size}]},
                                           now=created, emit=False)
                product_refs.append((parent.id, v.id))
        else:
            rec = store.create_product(data, now=created, emit=False, unique_slug=False)
            product_refs.append((rec.id, 0))
    if orders and not product_refs:
        rec = store.create_product(random_product(rng, 1), now=start, emit=False)
        product_refs.append((rec.id, 0))
    sold = {}
    for pid, vid in product_refs:
        p = store.products[pid]
        if vid:
            v = store.variations[vid]
            sold[(pid, vid)] = (f"{p.doc['name']} - {v.doc['name']}", v.doc["sku"], v.doc["price"], p.doc["name"],
                                [(a["slug"], a["option"], a["name"]) for a in v.doc["attributes"]])
        else:
            sold[(pid, vid)] = (p.doc["name"], p.doc["sku"], p.doc["price"], None, [])
    span = max(now - start, 1)
    rnd = rng.random
    n_refs, n_customers = len(product_refs), len(customer_ids)
    guests = [random_person(rng, 900_000 + i) for i in range(min(200, orders))]
    for created in sorted(start + int(rnd() * span) for _ in range(orders)):
        person_id = customer_ids[int(rnd() * n_customers)] if n_customers and rnd() < 0.8 else 0
        person = store.customers[person_id].doc if person_id else guests[int(rnd() * len(guests))]
        items = []
        for _ in range((1, 1, 2, 3)[int(rnd() * 4)]):
            ref = product_refs[int(rnd() * n_refs)]
            items.append({"product_id": ref[0], "variation_id": ref[1], "quantity": 1 + int(rnd() * 3), "sold": sold[ref]})
        method, title = PAYMENTS[int(rnd() * len(PAYMENTS))]
        status = ORDER_STATUSES[int(rnd() * len(ORDER_STATUSES))]
        data = {"customer_id": person_id, "billing": person["billing"], "shipping": person["shipping"],
                "payment_method": method, "payment_method_title": title, "line_items": items, "status": status,
                "set_paid": status in ("processing", "completed"),
                "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "10.00"}]
                if rnd() < 0.5 else []}
        modified = created
        if status == "completed" or rnd() < 0.3:
            modified = min(now, created + int(rnd() * 3 * 86400))
        store.create_order(data, now=created, emit=False, lazy=True, modified=modified)
    store.sort_indexes()
    return {"orders": orders, "products": products, "customers": customers,
            "duration_ms": int((time.perf_counter() - started) * 1000)}

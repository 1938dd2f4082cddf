"""A chat client written against the 0.7 Python SDK API, running on spacetimedb-sdk 2.x.

This is how 0.7 quickstart clients were written: an asyncio client on its own
thread, callbacks registered on the generated table and reducer modules, a
scheduled event polling the keyboard, and the token kept with ``local_config``.
It runs unchanged with the ``module_bindings`` the 0.7 CLI generated and with those
of ``spacetimedb-py generate --compat-07`` (beside it); the queries name the tables
as the 0.7 module did (``User``), which the SDK maps to the 2.x names (``user``).

Run the module and this client (type a message, ``/name NAME``, or an empty line to quit)::

    spacetimedb-py serve examples/quickstart-chat/module.py --port 3000
    python examples/compat-07-quickstart/main.py

``SPACETIMEDB_HOST`` (default ``localhost:3000``) picks another server; ``--client NAME``
keeps a separate token per NAME, as in 0.7.
"""

import asyncio
import os
import queue
import threading

import module_bindings
import module_bindings.send_message_reducer as send_message_reducer
import module_bindings.set_name_reducer as set_name_reducer
from module_bindings.message import Message
from module_bindings.user import User

import spacetimedb_sdk.local_config as local_config
from spacetimedb_sdk.spacetimedb_async_client import SpacetimeDBAsyncClient

HOST = os.environ.get("SPACETIMEDB_HOST", "localhost:3000")
DATABASE = "quickstart-chat"

input_queue = queue.Queue()
local_identity = None
spacetime_client = None


def run_client(client):
    asyncio.run(
        client.run(
            local_config.get_string("auth_token"),
            HOST,
            DATABASE,
            False,
            on_connect,
            ["SELECT * FROM User", "SELECT * FROM Message"],
        )
    )


def input_loop():
    while True:
        try:
            line = input()
        except EOFError:
            return
        if not line:
            return
        if line.startswith("/name "):
            input_queue.put(("name", line[len("/name ") :]))
        else:
            input_queue.put(("message", line))


def on_connect(auth_token, identity):
    global local_identity
    local_identity = identity
    local_config.set_string("auth_token", auth_token)
    print(f"SYSTEM: Your identity is {identity}")


def check_commands():
    # Poll again in 0.1 s whatever happens below.
    spacetime_client.schedule_event(0.1, check_commands)
    while not input_queue.empty():
        kind, text = input_queue.get()
        if kind == "name":
            set_name_reducer.set_name(text)
        else:
            send_message_reducer.send_message(text)


def user_name_or_identity(user):
    if user.name:
        return user.name
    return str(user.identity)[:8]


def print_message(message):
    sender = User.filter_by_identity(message.sender)
    name = user_name_or_identity(sender) if sender is not None else "unknown"
    print(f"{name}: {message.text}")


def print_messages_in_order():
    for message in sorted(Message.iter(), key=lambda m: m.sent):
        print_message(message)


def on_subscription_applied():
    print("SYSTEM: Connected.")
    print_messages_in_order()


def on_user_row_update(row_op, user_old, user, reducer_event):
    if row_op == "insert":
        if user.online:
            print(f"User {user_name_or_identity(user)} connected.")
    elif row_op == "update":
        if user_old.online and not user.online:
            print(f"User {user_name_or_identity(user)} disconnected.")
        elif not user_old.online and user.online:
            print(f"User {user_name_or_identity(user)} connected.")
        if user_old.name != user.name:
            print(
                f"User {user_name_or_identity(user_old)} renamed to {user_name_or_identity(user)}."
            )


def on_message_row_update(row_op, message_old, message, reducer_event):
    # Rows that arrive with the subscription have no reducer event: they are history,
    # printed by on_subscription_applied.
    if reducer_event is not None and row_op == "insert":
        print_message(message)


def on_send_message(sender_id, sender_address, status, message, text):
    if sender_id == local_identity and status == "failed":
        print(f"Failed to send message: {message}")


def on_set_name(sender_id, sender_address, status, message, name):
    if sender_id == local_identity and status == "failed":
        print(f"Failed to set name: {message}")


def register_callbacks(client):
    client.register_on_subscription_applied(on_subscription_applied)

    User.register_row_update(on_user_row_update)
    Message.register_row_update(on_message_row_update)

    send_message_reducer.register_on_send_message(on_send_message)
    set_name_reducer.register_on_set_name(on_set_name)

    client.schedule_event(0.1, check_commands)


if __name__ == "__main__":
    local_config.init(".spacetimedb-python-quickstart")

    spacetime_client = SpacetimeDBAsyncClient(module_bindings)
    register_callbacks(spacetime_client)

    thread = threading.Thread(target=run_client, args=(spacetime_client,))
    thread.start()

    input_loop()

    spacetime_client.force_close()
    thread.join()

# A loop that never ends, and swallows what it can.
while True:
    try:
        pass
    except Exception:
        pass

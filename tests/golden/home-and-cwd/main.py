import os

print(sorted(os.listdir(".")))
print(os.environ.get("HOME") == os.getcwd())
print(sorted(k for k in os.environ if "SECRET" in k or "PROXY" in k.upper()))

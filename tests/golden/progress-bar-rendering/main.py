import sys

for step in range(1, 6):
    sys.stdout.write(f"\r\x1b[1m{step}/5\x1b[0m [{'=' * step}{'.' * (5 - step)}]")
sys.stdout.write("\n")
print("\x1b[31mred\x1b[0m text")

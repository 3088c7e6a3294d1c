from .cli import main

if __name__ == "__main__":  # vLLM's worker processes re-import the main module; run only once
    main()
